"""`minutebook serve` and `minutebook keys …`."""

from __future__ import annotations

import logging
import os
import threading
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

    from minutebook.api.runtime import Runtime


keys_app = typer.Typer(help="API keys: each maps to one tenant. Stored hashed; shown once.", no_args_is_help=True)


@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; beyond loopback, keys are required."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant for keyless requests on loopback."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Processes; rate limits are shared (database), /metrics per process."
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
    _catch_up_extraction(rt, settings.tenant, background=workers == 1)
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


def _catch_up_extraction(rt: Runtime, default_tenant: str, *, background: bool) -> None:
    """Stored notes read by an older extractor are read again in the background, tenant by
    tenant, with a log line at the start and end of each. Why not just say `reextract` is needed:
    someone who upgrades and starts the server expects the items it shows to be those this
    version reads, and re-extraction keeps every passage and its vector, so it is cheap (only a
    note that would now be cut differently is embedded again) and safe beside requests (one
    transaction per note, locked against an ingest of the same note; answers are served from the
    old items until each note commits).
    With several worker processes nothing runs here (each would start the same work): the log
    names the command instead."""
    from minutebook.core.database import connect, tenant_transaction
    from minutebook.ingest.reextract import outdated_by_tenant

    log = logging.getLogger("uvicorn.error")
    outdated: dict[str, int] = {}
    try:
        with connect(rt.database_url) as conn:  # the embedded server's owner sees every tenant
            outdated = outdated_by_tenant(conn)
    except Exception as exc:  # another owner may not: the default tenant at least
        log.debug("cannot list every tenant's notes: %s", exc)
    try:
        with tenant_transaction(rt.pool, default_tenant) as conn:
            outdated |= outdated_by_tenant(conn)
    except Exception as exc:  # serving matters more than this check
        log.warning("could not check which notes an older extractor read: %s", exc)
    if not outdated:
        return
    for tenant, n in outdated.items():
        log.warning(
            "%d note(s) of tenant %s were read by an older extractor: %s", n, tenant,
            "re-extracting them in the background" if background else f"run `minutebook reextract --tenant {tenant}`",
        )  # fmt: skip
    if background:
        threading.Thread(
            target=_reextract_all, args=(rt, list(outdated), log), name="minutebook-reextract", daemon=True
        ).start()


def _reextract_all(rt: Runtime, tenants: list[str], log: logging.Logger) -> None:
    from minutebook.ingest.reextract import reextract

    for tenant in tenants:
        try:
            report = reextract(rt.pool, rt.embedder, tenant=tenant, max_tokens=rt.settings.chunk_max_tokens)
        except Exception as exc:  # the server goes on serving; the notes keep what was read before
            log.error("re-extracting %s stopped: %s; run `minutebook reextract --tenant %s`", tenant, exc, tenant)
            continue
        log.info(
            "re-extracted %d of %d note(s) of tenant %s in %.1f s (%d re-embedded: cut into other passages)",
            report.meetings - len(report.failed), report.meetings, tenant, report.seconds, len(report.reembedded),
        )  # fmt: skip
        for failure in report.failed:
            log.warning("re-extraction failed: %s", failure)


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
