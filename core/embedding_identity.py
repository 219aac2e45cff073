"""Vectors from different models or runtimes are never mixed in one database.

The store records the identity of what made its vectors (`Embedder.identity`); a command that
embeds (ingest, search, ask, the API) checks it against its own before it runs and refuses, with
the command to run, when they differ. `reembed` moves a store to a new identity in batches,
marking each row it has done, so it can be stopped and resumed; until it finishes, searching
is refused rather than comparing vectors of two kinds. A running server checks on every use of
its model (`CheckedEmbedder`), so a re-embed run beside it is noticed at the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from minutebook.core.database import set_tenant
from minutebook.core.embedder import Embedder
from minutebook.core.errors import ConfigError

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

Encode = Callable[[list[str]], np.ndarray]


def recorded(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """(the store's identity, the identity a re-embed under way is moving it to)."""
    rows: dict[str, str] = dict(
        conn.execute("SELECT key, value FROM store_meta WHERE key IN ('embedding', 'reembed_to')").fetchall()
    )
    return rows.get("embedding"), rows.get("reembed_to")


LEGACY = "legacy/torch"  # what migration 014 records for a store that already had vectors


def check_identity(conn: psycopg.Connection, identity: str, legacy: str) -> None:
    """Refuse when the store's vectors were made otherwise; an empty store takes `identity`. A
    store that predates the record holds `legacy` vectors (this model on torch, the only runtime
    there was). Commits nothing itself: the caller's transaction keeps the record."""
    stored, target = recorded(conn)
    if target is not None:
        raise ConfigError(under_way(target, progress(conn, target)))
    if stored is None or stored == LEGACY:
        conn.execute(
            """INSERT INTO store_meta (key, value) VALUES ('embedding', %s)
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
               WHERE store_meta.value = %s""",
            (legacy if stored == LEGACY else identity, LEGACY),
        )
        stored, _ = recorded(conn)
    if stored != identity:
        runtime = (stored or "").rsplit("/", 1)[-1]
        raise ConfigError(
            f"the notes here were embedded with {stored}, but this configuration embeds with {identity}: "
            f"run `minutebook reembed` to re-embed them (in batches, resumable), or set "
            f"MINUTEBOOK_EMBED_RUNTIME={runtime} to keep using what made them"
        )


def under_way(target: str, done: str | None = None) -> str:
    """Why searching and ingesting are refused while the store moves to `target`."""
    return (
        f"the notes are being re-embedded with {target}{f' ({done})' if done else ''}: searching and "
        "ingesting wait until `minutebook reembed` finishes (if it was stopped, run it again to finish)"
    )


def progress(conn: psycopg.Connection, target: str) -> str | None:
    """Progress as "2 of 8 vectors done"; None for a role that sees no tenant's vectors (the
    app's pool outside a tenant transaction), where the count would say "0 of 0"."""
    row = conn.execute(
        """SELECT (SELECT count(*) FILTER (WHERE embedded_with = %(t)s) FROM chunks)
                + (SELECT count(*) FILTER (WHERE embedded_with = %(t)s) FROM items),
                  (SELECT count(*) FROM chunks) + (SELECT count(*) FROM items)""",
        {"t": target},
    ).fetchone()
    done, total = row or (0, 0)
    return f"{done:,} of {total:,} vectors done" if total else None


@dataclass
class ReembedReport:
    source: str | None
    target: str
    chunks: int = 0
    items: int = 0
    tenants: int = 0
    cache_entries_dropped: int = 0


def tenants(conn: psycopg.Connection, default: str) -> list[str]:
    """Every tenant with notes (all of them for a superuser or BYPASSRLS role; otherwise those
    known from API keys, and the configured one)."""
    rows = conn.execute(
        "SELECT tenant_id FROM meetings UNION SELECT tenant_id FROM api_keys UNION SELECT %s", (default,)
    ).fetchall()
    return sorted({r[0] for r in rows})


_TABLES = {
    "chunks": "SELECT id, embed_text FROM chunks",
    # older items kept no embed_text: their text and detail are the nearest thing to it
    "items": "SELECT id, COALESCE(embed_text, text || CASE WHEN detail <> '' THEN ' — ' || detail ELSE '' END) "
    "FROM items",
}


def reembed(
    conn: psycopg.Connection,
    encode: Encode,
    target: str,
    *,
    default_tenant: str,
    batch: int = 256,
    on_batch: Callable[[int], None] | None = None,
) -> ReembedReport:
    """Re-embed every chunk and item with `encode` (which makes `target` vectors). `conn` is an
    owner connection in autocommit mode: each batch commits, so an interrupted run loses at most
    one batch and the next run resumes where it stopped."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    stored, _ = recorded(conn)
    conn.execute(
        """INSERT INTO store_meta (key, value) VALUES ('reembed_to', %s)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
        (target,),
    )
    report = ReembedReport(stored, target)
    moved: set[str] = set()
    while True:
        before = report.chunks + report.items
        for tenant in tenants(conn, default_tenant):
            moved.add(tenant)
            _move_tenant(conn, tenant, encode, target, batch, report, on_batch)
        # an ingest that embedded before the move began may have stored its old-kind vectors since
        # (searching and ingesting are refused once it has begun): another pass takes them
        left = vectors_to_do(conn, target)
        if not left:
            break
        if report.chunks + report.items == before:  # a pass that moved nothing would spin forever
            raise ConfigError(
                f"{left:,} vectors could not be re-embedded: this database role does not see every tenant's "
                "notes (run `minutebook reembed` as the database's owner)"
            )
    report.tenants = len(moved)
    with conn.transaction():
        conn.execute(
            """INSERT INTO store_meta (key, value) VALUES ('embedding', %s)
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
            (target,),
        )
        conn.execute("DELETE FROM store_meta WHERE key = 'reembed_to'")
    return report


def _move_tenant(
    conn: psycopg.Connection,
    tenant: str,
    encode: Encode,
    target: str,
    batch: int,
    report: ReembedReport,
    on_batch: Callable[[int], None] | None,
) -> None:
    for table, select in _TABLES.items():
        while True:
            with conn.transaction():
                set_tenant(conn, tenant)
                rows = conn.execute(
                    f"{select} WHERE tenant_id = %s AND embedded_with IS DISTINCT FROM %s ORDER BY id LIMIT %s",
                    (tenant, target, batch),
                ).fetchall()
                if not rows:
                    break
                vectors = encode([r[1] for r in rows])
                with conn.cursor() as cur:
                    cur.executemany(
                        f"UPDATE {table} SET embedding = %s, embedded_with = %s WHERE id = %s",
                        [(v, target, r[0]) for r, v in zip(rows, vectors, strict=True)],
                    )
            setattr(report, table, getattr(report, table) + len(rows))
            if on_batch:
                on_batch(len(rows))
    with conn.transaction():
        set_tenant(conn, tenant)  # cached questions' vectors are of the old kind too
        report.cache_entries_dropped += conn.execute(
            "DELETE FROM cache_entries WHERE tenant_id = %s", (tenant,)
        ).rowcount


def vectors_to_do(conn: psycopg.Connection, target: str) -> int:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM chunks WHERE embedded_with IS DISTINCT FROM %(t)s)
                + (SELECT count(*) FROM items WHERE embedded_with IS DISTINCT FROM %(t)s)""",
        {"t": target},
    ).fetchone()
    return int(row[0]) if row else 0


class StoreGuard:
    """A long-running process (`serve`) checks, before each use of its model, that the store
    still holds vectors of its kind: `minutebook reembed` run beside it moves the store to
    another identity, and searching with the old query vectors would compare two kinds. One
    small read of `store_meta` (two rows by primary key) on a pooled connection per use."""

    def __init__(self, pool: ConnectionPool, identity: str, legacy: str) -> None:
        self.pool = pool
        self.identity = identity
        self.legacy = legacy

    def check(self) -> None:
        with self.pool.connection() as conn:
            stored, target = recorded(conn)
            if target is None and stored == self.identity:
                return
            if target is None and stored in (None, LEGACY):  # an emptied store: record what this makes
                check_identity(conn, self.identity, self.legacy)
                return
        raise ConfigError(self.refusal(stored, target))

    def refusal(self, stored: str | None, target: str | None) -> str:
        if target is not None:
            if target == self.identity:
                return under_way(target)
            return under_way(target) + (
                f"; this server embeds with {self.identity}: restart it with the configuration the notes "
                "are moving to once it is done"
            )
        runtime = (stored or "").rsplit("/", 1)[-1]
        return (
            f"the notes here were re-embedded with {stored}, but this server embeds with {self.identity}: "
            f"restart it with the configuration that made them (MINUTEBOOK_EMBED_RUNTIME={runtime} or "
            "MINUTEBOOK_EMBED_MODEL), or run `minutebook reembed` with its own"
        )


class CheckedEmbedder(Embedder):
    """The embedder of a runtime: with a `guard`, every use (passages or queries, remembered or
    not) first checks the store is still of its kind and raises ConfigError (503) otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard: StoreGuard | None = None
        self._checking = threading.local()  # one check per call, not one per nested encode

    @contextmanager
    def _checked(self) -> Iterator[None]:
        if self.guard is None or getattr(self._checking, "active", False):
            yield
            return
        self.guard.check()
        self._checking.active = True
        try:
            yield
        finally:
            self._checking.active = False

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        with self._checked():
            return super().encode(texts, batch_size=batch_size)

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        with self._checked():
            return super().encode_queries(texts)
