"""Connections: the pool (pgvector registered once per connection) and tenant-scoped transactions."""

from __future__ import annotations

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

EMBEDDING_DIM = 384  # must match sql/001 `vector(384)`
APP_ROLE = "minutebook_app"  # sql/006: no BYPASSRLS, so row-level security always applies


def resolve_database_url(settings: Settings) -> str:
    """`DATABASE_URL` when set; otherwise the embedded server under `settings.home`."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.home / "pgdata")


def configure_connection(conn: psycopg.Connection) -> None:
    """Once per pooled connection: the vector type, and HNSW scans that keep going until a
    filtered query has its k rows (pgvector 0.8 iterative scans)."""
    register_vector(conn)
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    conn.execute("SET hnsw.ef_search = 150")  # recall@10 >= 0.95 at 100k chunks (bench/retrieval.py)
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


def set_tenant(conn: psycopg.Connection, tenant: str) -> None:
    """Scope the current transaction to `tenant`: row-level security filters on it."""
    conn.execute("SELECT set_config('minutebook.tenant', %s, true)", (tenant,))


@contextmanager
def tenant_transaction(pool: ConnectionPool, tenant: str) -> Iterator[psycopg.Connection]:
    """One transaction for one tenant: committed when the block ends, rolled back if it raises."""
    with pool.connection() as conn:
        set_tenant(conn, tenant)
        yield conn
