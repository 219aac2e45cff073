"""`minutebook serve` and `minutebook keys …`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import typer

from minutebook.api.cli_support import (
    Col,
    console,
    err_console,
    friendly_errors,
    print_json,
    print_table,
    safe,
    settings_from,
)

if TYPE_CHECKING:
    import psycopg


keys_app = typer.Typer(help="API keys: each maps to one tenant. Stored hashed; shown once.", no_args_is_help=True)


@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; beyond loopback, keys are required."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant for keyless requests on loopback."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Processes; rate limits and /metrics are per process."
    ),
) -> None:
    """Serve the web app (at /) and the HTTP API (under /v1; OpenAPI docs at /docs). Keyless
    requests are allowed only on loopback while no API key exists; they act as the default
    tenant. Once a key exists, the web pages ask for one at sign-in. On loopback the server
    answers only to 127.0.0.1, localhost and [::1] (behind a proxy, name it in
    MINUTEBOOK_ALLOWED_HOSTS)."""
    import uvicorn

    from minutebook.api.app import KEYLESS_ENV, create_app
    from minutebook.api.keys import KeyResolver, is_loopback, require_keys_off_loopback
    from minutebook.api.runtime import open_runtime

    settings = settings_from(tenant)
    rt = open_runtime(settings, supervise=workers == 1)
    try:
        require_keys_off_loopback(host, KeyResolver(rt.pool))
        if workers == 1:
            rt.embedder.encode_one("warm up")  # load the model before the first request, not during it
    except BaseException:
        rt.close()
        raise
    keyless = settings.tenant if is_loopback(host) else None
    err_console.print(
        f"minutebook on http://{host}:{port}/ (web pages; API under /v1, docs at /docs), {workers} worker(s)"
    )
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, "server_header": False}
    if workers == 1:
        try:
            uvicorn.run(create_app(rt, keyless_tenant=keyless), **options)
        finally:
            rt.close()
        return
    rt.close()  # each worker process opens its own pool and loads its own model
    os.environ[KEYLESS_ENV] = keyless or ""
    if settings.tenant:
        os.environ["MINUTEBOOK_TENANT"] = settings.tenant
    uvicorn.run("minutebook.api.app:app_from_environment", factory=True, workers=workers, **options)


def _owner_connection() -> psycopg.Connection:
    """Keys are an operator's business: the owner role, not the app role (which cannot read them)."""
    from minutebook.core.database import connect, resolve_database_url
    from minutebook.core.migrations import migrate

    settings = settings_from()
    url = resolve_database_url(settings)
    if settings.auto_migrate:
        migrate(url)
    return connect(url)


@keys_app.command("create")
@friendly_errors
def keys_create(
    tenant: str = typer.Option(..., "--tenant", "-t", help="The tenant this key acts for."),
    label: str | None = typer.Option(None, "--label", help="A note to tell keys apart."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a key; it is printed once and cannot be shown again."""
    import re

    from minutebook.api.keys import create_key
    from minutebook.core.settings import TENANT_PATTERN

    if not re.fullmatch(TENANT_PATTERN, tenant):
        raise typer.BadParameter("tenant names are letters, digits, '.', '_' and '-' (up to 63)")
    with _owner_connection() as conn:
        key_id, key = create_key(conn, tenant, label)
    if json_out:
        print_json({"id": key_id, "tenant": tenant, "key": key})
        return
    console.print(f"key {key_id} for tenant {tenant!r} (shown once, keep it safe):")
    print(key)


@keys_app.command("list")
@friendly_errors
def keys_list(
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Only this tenant's keys."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Keys by id, tenant and prefix (never the key itself)."""
    from minutebook.api.keys import list_keys

    with _owner_connection() as conn:
        found = list_keys(conn, tenant)
    if json_out:
        print_json([k.__dict__ for k in found])
        return
    cols = [Col("id", "number"), Col("tenant", "words"), Col("prefix", "words"), Col("label")]
    print_table(
        [*cols, Col("created", "words"), Col("last used", "words"), Col("revoked", "words")],
        [
            [
                str(k.id),
                safe(k.tenant),
                safe(k.prefix) + "…",
                safe(k.label or ""),
                f"{k.created_at:%Y-%m-%d}",
                f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
                f"{k.revoked_at:%Y-%m-%d}" if k.revoked_at else "",
            ]
            for k in found
        ],
        key=2,
        narrow="records",
    )


@keys_app.command("revoke")
@friendly_errors
def keys_revoke(key_id: int = typer.Argument(..., help="The key's id (see `minutebook keys list`).")) -> None:
    """Revoke a key; running servers stop accepting it within 30 seconds."""
    from minutebook.api.keys import revoke_key

    with _owner_connection() as conn:
        if not revoke_key(conn, key_id):
            err_console.print(f"no live key {key_id}")
            raise typer.Exit(1)
    console.print(f"key {key_id} revoked")
