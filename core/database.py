"""Connections: the pool (pgvector registered once per connection) and tenant-scoped transactions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql as psql
from psycopg_pool import ConnectionPool

from minutebook.core.embedded import start_embedded
from minutebook.core.errors import DatabaseError
from minutebook.core.settings import Settings

LOCK_WAIT_SECONDS = 60.0  # longest any minutebook writer waits for another before saying "retry"
APP_ROLE = "minutebook_app"  # sql/006: no BYPASSRLS, so row-level security always applies


def resolve_database_url(settings: Settings) -> str:
    """`DATABASE_URL` when set; otherwise the embedded server under `settings.home`."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.home / "pgdata")


# How HNSW scans run: they keep going until a filtered query has its k rows (pgvector 0.8 iterative
# scans), and ef_search 250 (bench/retrieval.py --sweep at 100k chunks: 150 gave recall@10
# 0.948-0.975 from one HNSW build to the next; 250 gave 0.993 for +2 ms p50).
SEARCH_SETTINGS = {"hnsw.iterative_scan": "relaxed_order", "hnsw.ef_search": "250"}


def configure_connection(conn: psycopg.Connection) -> None:
    """Once per pooled connection: the vector type and `SEARCH_SETTINGS` for the session (a
    tenant's transaction sets them again for the Citus workers: `set_tenant`)."""
    register_vector(conn)
    for name, value in SEARCH_SETTINGS.items():
        conn.execute(psql.SQL("SET {} = {}").format(psql.Identifier(*name.split(".")), psql.Literal(value)))
    conn.commit()


def app_role_url(owner_url: str, explicit: str | None = None) -> str:
    """Where the application logs in as `minutebook_app`: the explicit URL when given (a server
    that wants a password), else the owner's URL with the user swapped (the embedded server trusts
    local connections)."""
    if explicit:
        return explicit
    params = psycopg.conninfo.conninfo_to_dict(owner_url)
    params.pop("password", None)
    params["user"] = APP_ROLE
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def open_app_pool(owner_url: str, explicit_app_url: str | None = None, **kwargs: Any) -> ConnectionPool:
    """The pool the product runs on, as a role under row-level security.

    It logs in as `minutebook_app`; when the server will not let it (a password is required and
    none was configured), it connects as the owner and switches role for the whole session, which
    still drops superuser and BYPASSRLS for every statement.
    """
    url = app_role_url(owner_url, explicit_app_url)
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.OperationalError:
        if explicit_app_url:
            raise DatabaseError(f"cannot connect as {APP_ROLE} with MINUTEBOOK_APP_DATABASE_URL") from None
        return make_pool(owner_url, assume_role=APP_ROLE, **kwargs)
    return make_pool(url, **kwargs)


def reset_connection(conn: psycopg.Connection) -> None:
    """Back in the pool: no session lock a request took (or failed to release) outlives it."""
    conn.execute("SELECT pg_advisory_unlock_all()")
    conn.commit()


def make_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 8,
    timeout: float = 10.0,
    assume_role: str | None = None,
) -> ConnectionPool:
    """A pool whose connections know the `vector` type; broken connections are replaced on checkout."""

    def configure(conn: psycopg.Connection) -> None:
        if assume_role:
            conn.execute(psql.SQL("SET ROLE {}").format(psql.Identifier(assume_role)))
        configure_connection(conn)

    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        configure=configure,
        reset=reset_connection,
        check=ConnectionPool.check_connection,
        open=False,
        name="minutebook",
    )
    try:
        pool.open(wait=True, timeout=timeout)
    except Exception as exc:
        pool.close()
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc
    return pool


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    """A single connection (for migrations and admin), with a clear error when unreachable."""
    try:
        return psycopg.connect(url, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc


# SET LOCAL, not set_config(): on Citus a setting reaches the workers, where the shards' row-level
# security reads it, only as SET LOCAL with citus.propagate_set_commands = 'local' (verified in
# ../shared/vendor/README.md). On plain PostgreSQL the citus.* setting is an inert placeholder.
_SET_LOCAL = psql.SQL("SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL {} = {}")


def set_local(conn: psycopg.Connection, name: str, value: str) -> None:
    """A setting for the rest of the transaction, on every node of the cluster. One round trip."""
    conn.execute(_SET_LOCAL.format(psql.Identifier(*name.split(".")), psql.Literal(value)))


def on_citus(conn: psycopg.Connection) -> bool:
    """Whether the database is a Citus coordinator (where a few statements must be written otherwise)."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')").fetchone()
    return bool(row and row[0])


def set_tenant(conn: psycopg.Connection, tenant: str) -> None:
    """Scope the current transaction to `tenant`: row-level security filters on it. The search
    settings go with it in the same round trip: a session's own settings stay on the coordinator,
    and a Citus worker would otherwise search with pgvector's defaults (no iterative scan: a
    filtered search returns fewer passages than asked for)."""
    settings = {"minutebook.tenant": tenant, **SEARCH_SETTINGS}
    conn.execute(
        psql.SQL("; ").join(
            [psql.SQL("SET LOCAL citus.propagate_set_commands = 'local'")]
            + [
                psql.SQL("SET LOCAL {} = {}").format(psql.Identifier(*name.split(".")), psql.Literal(value))
                for name, value in settings.items()
            ]
        )
    )


def _lock_key(key: str | int) -> tuple[str, str | int]:
    return ("%s", key) if isinstance(key, int) else ("hashtextextended(%s, 0)", key)


@contextmanager
def session_lock(conn: psycopg.Connection, key: str | int, *, seconds: float, busy: str) -> Iterator[None]:
    """Hold a session advisory lock for the block, waiting at most `seconds` for it; then
    DatabaseError(`busy`) instead of hanging. `conn` must not be inside a transaction block."""
    expr, value = _lock_key(key)
    deadline = time.monotonic() + seconds
    pause = 0.01
    while True:
        row = conn.execute(f"SELECT pg_try_advisory_lock({expr})", (value,)).fetchone()
        if not conn.autocommit:
            conn.commit()
        if row and row[0]:
            break
        if time.monotonic() >= deadline:
            raise DatabaseError(busy)
        time.sleep(pause)
        pause = min(0.2, pause * 2)
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            conn.execute(f"SELECT pg_advisory_unlock({expr})", (value,))
            if not conn.autocommit:
                conn.commit()


def transaction_lock(conn: psycopg.Connection, key: str, *, seconds: float, busy: str) -> None:
    """A transaction advisory lock, waited for at most `seconds`; DatabaseError(`busy`) after."""
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(seconds * 1000)}ms",))
    try:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
    except psycopg.errors.LockNotAvailable:
        raise DatabaseError(busy) from None
    conn.execute("SELECT set_config('lock_timeout', '0', true)")


@contextmanager
def tenant_transaction(pool: ConnectionPool, tenant: str) -> Iterator[psycopg.Connection]:
    """One transaction for one tenant: committed when the block ends, rolled back if it raises."""
    with pool.connection() as conn:
        set_tenant(conn, tenant)
        yield conn
