"""`minutebook db …`: the database's lifecycle and schema."""

from __future__ import annotations

import typer

from minutebook.api.cli_support import Col, console, friendly_errors, print_json, print_table, settings_from

db_app = typer.Typer(
    help="Database: start/stop the embedded server, apply and inspect migrations.", no_args_is_help=True
)


@db_app.command("migrate")
@friendly_errors
def migrate_cmd() -> None:
    """Apply pending migrations (safe to run from several processes at once)."""
    from minutebook.core.database import resolve_database_url
    from minutebook.core.migrations import migrate

    settings = settings_from()
    applied = migrate(resolve_database_url(settings))
    if not applied:
        console.print("database schema is up to date")
    for m in applied:
        console.print(f"applied {m.version:03d}_{m.name}")


@db_app.command("status")
@friendly_errors
def status_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show each migration as applied, pending or modified."""
    from minutebook.core.database import connect, resolve_database_url
    from minutebook.core.migrations import migration_status

    settings = settings_from()
    with connect(resolve_database_url(settings)) as conn:
        states = migration_status(conn)
    if json_out:
        print_json([s.__dict__ for s in states])
        return
    colours = {"applied": "green", "pending": "yellow"}
    print_table(
        [Col("version", "number"), Col("name"), Col("state", "words"), Col("applied at", "words")],
        [
            [f"{s.version:03d}", s.name, f"[{colours.get(s.state, 'red')}]{s.state}[/]", s.applied_at or ""]
            for s in states
        ],
        key=2,
        narrow="records",
    )


@db_app.command("start")
@friendly_errors
def start_cmd() -> None:
    """Start the embedded server (commands start it on demand; this just does it now)."""
    from minutebook.core.database import resolve_database_url

    settings = settings_from()
    url = resolve_database_url(settings)
    console.print(f"database ready: {url}", highlight=False)


@db_app.command("stop")
@friendly_errors
def stop_cmd() -> None:
    """Stop the embedded server (not used when DATABASE_URL is set)."""
    from minutebook.core.embedded import stop_embedded

    settings = settings_from()
    if settings.database_url:
        console.print("DATABASE_URL is set: the embedded server is not in use")
        return
    stopped = stop_embedded(settings.home / "pgdata")
    console.print("embedded server stopped" if stopped else "embedded server was not running")


@db_app.command("url")
@friendly_errors
def url_cmd() -> None:
    """Print the connection URL (starting the embedded server if needed), e.g. for psql."""
    from minutebook.core.database import resolve_database_url

    print(resolve_database_url(settings_from()))


@db_app.command("info")
@friendly_errors
def info_cmd() -> None:
    """Where the data lives and whether the embedded server runs."""
    from minutebook.core.embedded import embedded_status

    settings = settings_from()
    if settings.database_url:
        print_json({"mode": "external", "database_url": settings.database_url})
    else:
        print_json({"mode": "embedded", **embedded_status(settings.home / "pgdata")})
