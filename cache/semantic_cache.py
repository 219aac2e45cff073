"""The semantic cache: a stored answer is served again only when nothing about it has gone stale.

Lookup: the exact normalised question (same window) first, then the nearest cached questions
of the same tenant, model and prompt version by embedding. A candidate is a hit only if
  1. every chunk it cites still exists with the same content hash,
  2. those chunks are still among the evidence retrieved for the new question,
  3. the key terms (names, numbers, dates, quoted strings, rare words) of both questions agree,
  4. the resolved date windows agree, and
  5. it has not expired.
Any doubt is a miss: a wrong answer costs more than a token bill.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from minutebook.core.database import session_lock
from minutebook.core.llm import Usage


@dataclass(frozen=True)
class CacheSettings:
    # bench/cache.py on QQP train: the lowest cosine keeping false hits <= 1% (val: 0.98%)
    threshold: float = 0.955
    ttl: timedelta = timedelta(days=7)
    max_entries: int = 10_000  # per tenant, least recently used evicted first


@dataclass(frozen=True)
class CacheKey:
    tenant: str
    model: str
    prompt_version: str
    question: str
    question_norm: str
    window_key: str
    key_terms: frozenset[str]
    embedding: np.ndarray

    @property
    def question_hash(self) -> str:
        return hashlib.sha256(f"{self.question_norm}\x1f{self.window_key}".encode()).hexdigest()

    @property
    def lock_name(self) -> str:
        return f"{self.tenant}\x1f{self.model}\x1f{self.prompt_version}\x1f{self.question_hash}"


SINGLE_FLIGHT_WAIT = 120.0  # an LLM answer (with its retries) is over long before this


@contextmanager
def single_flight(conn: psycopg.Connection, key: CacheKey) -> Iterator[None]:
    """One LLM call for many identical concurrent misses, across processes: whoever holds the
    lock asks; the others wait, then find the answer in the cache. `conn` must be idle."""
    with session_lock(
        conn, key.lock_name, seconds=SINGLE_FLIGHT_WAIT, busy="the same question is still being answered; retry"
    ):
        yield


@dataclass(frozen=True)
class CachedAnswer:
    entry_id: int
    question: str
    answer: str
    citations: list[dict[str, Any]]
    tier: str  # exact | semantic
    similarity: float
    usage: Usage
    cost_usd: Decimal | None
    latency_ms: int


@dataclass(frozen=True)
class Miss:
    reason: str  # why the best candidate was not served ("no similar question", "evidence changed"...)


_CANDIDATES = """
SELECT e.id, e.question, e.question_hash, e.window_key, e.key_terms, e.answer, e.citations,
       e.prompt_tokens, e.completion_tokens, e.cached_tokens, e.cost_usd, e.latency_ms,
       1 - (e.embedding <=> %(q)s) AS similarity,
       ARRAY(SELECT l.chunk_id FROM cache_entry_chunks l WHERE l.entry_id = e.id) AS cited,
       NOT EXISTS (SELECT 1 FROM cache_entry_chunks l
                   LEFT JOIN chunks c ON c.id = l.chunk_id AND c.content_hash = l.content_hash
                   WHERE l.entry_id = e.id AND c.id IS NULL) AS evidence_current
FROM (
    (SELECT * FROM cache_entries
     WHERE tenant_id = %(tenant)s AND model = %(model)s AND prompt_version = %(version)s
       AND question_hash = %(hash)s AND expires_at > now()
     ORDER BY created_at DESC LIMIT 1)
    UNION ALL
    (SELECT * FROM cache_entries
     WHERE tenant_id = %(tenant)s AND model = %(model)s AND prompt_version = %(version)s AND expires_at > now()
     ORDER BY embedding <=> %(q)s LIMIT 5)
) e
"""


def lookup(
    conn: psycopg.Connection, key: CacheKey, evidence_chunk_ids: set[int], settings: CacheSettings
) -> CachedAnswer | Miss:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _CANDIDATES,
            {
                "q": key.embedding,
                "tenant": key.tenant,
                "model": key.model,
                "version": key.prompt_version,
                "hash": key.question_hash,
            },
        ).fetchall()
    if not rows:
        return Miss("nothing cached yet")
    seen: set[int] = set()
    reasons: list[str] = []
    ordered = sorted(rows, key=lambda r: (r["question_hash"] != key.question_hash, -float(r["similarity"])))
    for row in ordered:
        if row["id"] in seen:
            continue
        seen.add(row["id"])
        exact = row["question_hash"] == key.question_hash
        similarity = 1.0 if exact else float(row["similarity"])
        if not exact and similarity < settings.threshold:
            reasons.append(f"closest question only {similarity:.2f} similar")
            continue
        if not row["evidence_current"]:
            reasons.append("its evidence changed since")
            continue
        if not set(row["cited"]) <= evidence_chunk_ids:
            reasons.append("its evidence is not what this question retrieves")
            continue
        if frozenset(row["key_terms"]) != key.key_terms:
            reasons.append("key terms differ")
            continue
        if row["window_key"] != key.window_key:
            reasons.append("different time window")
            continue
        usage = Usage(row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"])
        return CachedAnswer(
            row["id"],
            row["question"],
            row["answer"],
            row["citations"],
            "exact" if exact else "semantic",
            similarity,
            usage,
            row["cost_usd"],
            row["latency_ms"],
        )
    return Miss(reasons[0] if reasons else "no similar question")


def mark_hit(conn: psycopg.Connection, entry_id: int) -> None:
    conn.execute("UPDATE cache_entries SET hit_count = hit_count + 1, last_hit_at = now() WHERE id = %s", (entry_id,))


def store(
    conn: psycopg.Connection,
    key: CacheKey,
    *,
    answer: str,
    citations: list[dict[str, Any]],
    usage: Usage,
    cost_usd: Decimal | None,
    latency_ms: int,
    settings: CacheSettings,
) -> int:
    """Keep a good answer; its links to the cited chunks make re-ingest drop it."""
    row = conn.execute(
        """INSERT INTO cache_entries (tenant_id, model, prompt_version, question, question_norm, question_hash,
                                      window_key, key_terms, embedding, answer, citations, prompt_tokens,
                                      completion_tokens, cached_tokens, cost_usd, latency_ms, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now() + %s)
           RETURNING id""",
        (
            key.tenant,
            key.model,
            key.prompt_version,
            key.question,
            key.question_norm,
            key.question_hash,
            key.window_key,
            sorted(key.key_terms),
            key.embedding,
            answer,
            Jsonb(citations),
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
            cost_usd,
            latency_ms,
            settings.ttl,
        ),
    ).fetchone()
    assert row is not None
    entry_id = int(row[0])
    cited = {c["chunk_id"]: c["content_hash"] for c in citations if c.get("chunk_id")}
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO cache_entry_chunks (tenant_id, entry_id, chunk_id, content_hash) VALUES (%s, %s, %s, %s)",
            [(key.tenant, entry_id, chunk_id, digest) for chunk_id, digest in cited.items()],
        )
    evict(conn, key.tenant, settings.max_entries)
    return entry_id


def evict(conn: psycopg.Connection, tenant: str, max_entries: int) -> int:
    """Expired entries, then the least recently used beyond the tenant's cap."""
    gone = conn.execute("DELETE FROM cache_entries WHERE tenant_id = %s AND expires_at <= now()", (tenant,)).rowcount
    over = conn.execute(
        """DELETE FROM cache_entries WHERE id IN (
               SELECT id FROM cache_entries WHERE tenant_id = %s
               ORDER BY COALESCE(last_hit_at, created_at) DESC, id DESC OFFSET %s)""",
        (tenant, max_entries),
    ).rowcount
    return gone + over


def stats(conn: psycopg.Connection, tenant: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            """SELECT count(*) AS entries, COALESCE(sum(hit_count), 0) AS hits,
                      count(*) FILTER (WHERE expires_at <= now()) AS expired,
                      min(created_at) AS oldest, max(COALESCE(last_hit_at, created_at)) AS last_used,
                      COALESCE(sum(cost_usd * hit_count), 0) AS saved_usd
               FROM cache_entries WHERE tenant_id = %s""",
            (tenant,),
        ).fetchone()
    return dict(row or {})


def inspect(conn: psycopg.Connection, tenant: str, *, limit: int = 20) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT id, question, model, prompt_version, window_key, key_terms, hit_count, cost_usd,
                      created_at, last_hit_at, expires_at, left(answer, 200) AS answer
               FROM cache_entries WHERE tenant_id = %s
               ORDER BY COALESCE(last_hit_at, created_at) DESC LIMIT %s""",
            (tenant, limit),
        ).fetchall()


def clear(conn: psycopg.Connection, tenant: str) -> int:
    return conn.execute("DELETE FROM cache_entries WHERE tenant_id = %s", (tenant,)).rowcount
