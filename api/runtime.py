"""Builds the collaborators from settings (the only place that does) and hands them down."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from minutebook.core.database import make_pool, resolve_database_url
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    pool: ConnectionPool
    embedder: Embedder = field(repr=False)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_runtime(settings: Settings) -> Runtime:
    """Start or reach the database, bring its schema up to date, and open the pool."""
    url = resolve_database_url(settings)
    if settings.auto_migrate:
        migrate(url)
    pool = make_pool(url, min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    embedder = Embedder(settings.embed_model, batch_size=settings.embed_batch_size)
    return Runtime(settings, url, pool, embedder)
