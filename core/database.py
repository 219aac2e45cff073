"""Connections: the pool (pgvector registered once per connection) and tenant-scoped transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from minutebook.core.embedded import start_embedded
from minutebook.core.errors import DatabaseError
from minutebook.core.settings import Settings

EMBEDDING_DIM = 384  # must match sql/001 `vector(384)`


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


def make_pool(url: str, *, min_size: int = 1, max_size: int = 8, timeout: float = 10.0) -> ConnectionPool:
    """A pool whose connections know the `vector` type; broken connections are replaced on checkout."""
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        configure=configure_connection,
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
