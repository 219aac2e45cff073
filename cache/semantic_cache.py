"""The semantic cache: a stored answer is served again only when nothing about it has gone stale
and the new question asks for the same information.

Lookup: the exact normalised question (same window) first, then the nearest cached questions
of the same tenant, model and prompt version by embedding. A candidate is a hit only if
  1. it is similar enough (`CacheSettings.threshold`) and has not expired,
  2. every chunk it cites still exists with the same content hash, and nobody rejected an answer
     of its intent citing exactly those chunks,
  3. those chunks are among the evidence retrieved for the new question, and (below
     `question_floor`) the new question's best evidence is among them (`best_of`),
  4. the resolved date windows agree, and
  5. both questions ask the same kind of thing about the same things (cache/shape.py), and
     about the same part of the cited passages (cache/lines.py).
Any doubt is a miss: a wrong answer costs more than a token bill.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from minutebook.cache import trust
from minutebook.cache.lines import Outline, same_part
from minutebook.cache.shape import (
    QuestionShape,
    line_words,
    predicate_mismatch,
    question_shape,
    same_word,
    shape_mismatch,
    subject_words,
)
from minutebook.core.database import session_lock
from minutebook.core.llm import Usage

log = logging.getLogger("minutebook.cache")


@dataclass(frozen=True)
class CacheSettings:
    # Two tiers (bench/cache.py prints the curves these were chosen on). From `question_floor` up
    # the questions alone decide (intent, negation, entities; QQP false hits <= 2%) as long as the
    # cited evidence is still retrieved; between `threshold` and it, the new question's best
    # `best_of` passages must also include one the answer cites.
    threshold: float = 0.80
    question_floor: float = 0.94
    best_of: int = 3
    # Below `threshold`, down to `verify_floor`: served only if a verifier (cache/verify.py) agrees
    verify: bool = True  # bench/cache.py: a net saving even with a verifier wrong 5% of the time
    verify_floor: float = 0.55
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
    embedding: np.ndarray

    @property
    def question_hash(self) -> str:
        return hashlib.sha256(f"{self.question_norm}\x1f{self.window_key}".encode()).hexdigest()

    @property
    def lock_name(self) -> str:
        return f"{self.tenant}\x1f{self.model}\x1f{self.prompt_version}\x1f{self.question_hash}"


# Seconds the single-flight leader may still need after its LLM call: the ledger write, retried
# (search/answer.py: up to 3 attempts, each waiting up to the pool's 10 s), and the cache store.
RECORDING_BUDGET = 40.0
FLIGHT_CONNECT_TIMEOUT = 10  # seconds, as the pool waits for a connection


@contextmanager
def single_flight(pool: ConnectionPool, key: CacheKey, *, answer_budget: float) -> Iterator[None]:
    """One LLM call for many identical concurrent misses, across processes: whoever holds the
    lock asks; the others wait, then find the answer in the cache. They wait as long as the
    leader may take (`answer_budget`, the LLM client's retry budget, plus `RECORDING_BUDGET`).

    The lock lives on a connection of its own, outside the pool: held for a whole LLM call, a
    pooled one would let a few slow misses starve every other request. If that connection
    cannot be had (the server is at its connection limit) the question is answered without
    single flight: at worst one more LLM call, never an error."""
    conninfo = pool.conninfo if isinstance(pool.conninfo, str) else pool.conninfo()
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=FLIGHT_CONNECT_TIMEOUT)
    except psycopg.OperationalError as exc:
        log.warning("single flight unavailable, answering without it: %s", exc)
        conn = None
    if conn is None:
        yield
        return
    with (
        conn,
        session_lock(
            conn,
            key.lock_name,
            seconds=answer_budget + RECORDING_BUDGET,
            busy="the same question is still being answered; retry",
        ),
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
    grey: CachedAnswer | None = None  # passed every check but similarity: a verifier may still serve it


@dataclass(frozen=True)
class Retrieved:
    """What the new question retrieved: its evidence best first, what it says, and everything
    retrieved before the evidence was judged (`pool`, a superset)."""

    ranked: list[int]
    texts: dict[int, str]
    pool: list[int] = field(default_factory=list)
    sections: dict[int, str] = field(default_factory=dict)  # passage → "meeting id|section path"
    similarities: list[float] = field(default_factory=list)  # cosine of the question to its evidence passages
    closeness: dict[int, float] = field(default_factory=dict)  # cosine of the question to each retrieved passage

    def similarity_rank(self, n: int) -> float:
        """The n-th best cosine among the evidence: a passage at least this close would rank top n."""
        ordered = sorted(self.similarities, reverse=True)
        return ordered[n - 1] if len(ordered) >= n else (ordered[-1] if ordered else 1.0)

    def ids(self) -> set[int]:
        return set(self.ranked) | set(self.pool)


_CANDIDATES = """
(SELECT id, question, question_hash, window_key, intent, negated, entities, answer, citations,
        prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms, 1 - (embedding <=> %(q)s) AS similarity
 FROM cache_entries
 WHERE tenant_id = %(tenant)s AND model = %(model)s AND prompt_version = %(version)s
   AND question_hash = %(hash)s AND expires_at > now()
 ORDER BY created_at DESC LIMIT 1)
UNION ALL
(SELECT id, question, question_hash, window_key, intent, negated, entities, answer, citations,
        prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms, 1 - (embedding <=> %(q)s)
 FROM cache_entries
 WHERE tenant_id = %(tenant)s AND model = %(model)s AND prompt_version = %(version)s AND expires_at > now()
 ORDER BY embedding <=> %(q)s LIMIT 5)
"""
# What each candidate cites, whether that is still current, and whether an answer like it was
# rejected. A query of its own, on the candidates' ids with the tenant named: Citus runs it on the
# tenant's worker, where the candidates' nearest-neighbour union could not take it along.
_EVIDENCE = """
SELECT e.id,
       ARRAY(SELECT l.chunk_id FROM cache_entry_chunks l
             WHERE l.tenant_id = %(tenant)s AND l.entry_id = e.id) AS cited,
       NOT EXISTS (SELECT 1 FROM cache_entry_chunks l
                   LEFT JOIN chunks c ON c.tenant_id = l.tenant_id AND c.id = l.chunk_id
                     AND c.content_hash = l.content_hash
                   WHERE l.tenant_id = %(tenant)s AND l.entry_id = e.id AND c.id IS NULL) AS evidence_current,
       EXISTS (SELECT 1 FROM cache_rejections r
               WHERE r.tenant_id = %(tenant)s AND r.intent = e.intent
                 AND r.chunk_ids = ARRAY(SELECT l.chunk_id FROM cache_entry_chunks l
                                         WHERE l.tenant_id = %(tenant)s AND l.entry_id = e.id ORDER BY 1)) AS rejected
FROM cache_entries e WHERE e.tenant_id = %(tenant)s AND e.id = ANY(%(ids)s)
"""


def lookup(
    conn: psycopg.Connection, key: CacheKey, shape: QuestionShape, retrieved: Retrieved, settings: CacheSettings
) -> CachedAnswer | Miss:
    """The cached answer for this question, or why there is none (the closest candidate's reason)."""
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
        if rows:
            evidence = {
                r["id"]: r
                for r in cur.execute(_EVIDENCE, {"tenant": key.tenant, "ids": sorted({r["id"] for r in rows})})
            }
            rows = [{**r, **evidence[r["id"]]} for r in rows if r["id"] in evidence]
    if not rows:
        return Miss("nothing cached yet")
    closeness = dict(retrieved.closeness)
    texts = dict(retrieved.texts)
    unseen = sorted({c for r in rows for c in r["cited"]} - closeness.keys())
    if unseen:  # cited passages this question did not retrieve: how close they are to it
        for chunk_id, cosine, text in conn.execute(
            "SELECT id, 1 - (embedding <=> %s), text FROM chunks WHERE tenant_id = %s AND id = ANY(%s)",
            (key.embedding, key.tenant, unseen),
        ).fetchall():
            closeness[chunk_id] = float(cosine)
            texts.setdefault(chunk_id, text)
    retrieved = replace(retrieved, texts=texts)
    seen: set[int] = set()
    reasons: list[str] = []
    grey: CachedAnswer | None = None
    ordered = sorted(rows, key=lambda r: (r["question_hash"] != key.question_hash, -float(r["similarity"])))
    for row in ordered:
        if row["id"] in seen:
            continue
        seen.add(row["id"])
        exact = row["question_hash"] == key.question_hash
        similarity = 1.0 if exact else float(row["similarity"])
        reason = _why_not(row, exact, similarity, key, shape, retrieved, settings, closeness)
        if reason:
            reasons.append(reason)
            continue
        usage = Usage(row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"])
        found = CachedAnswer(
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
        if exact or similarity >= settings.threshold:
            return found
        if grey is None:
            grey = found
            reasons.append(f"closest question only {similarity:.2f} similar")
    return Miss(reasons[0] if reasons else "no similar question", grey)


def _why_not(
    row: dict[str, Any], exact: bool, similarity: float, key: CacheKey, shape: QuestionShape,
    retrieved: Retrieved, settings: CacheSettings, closeness: dict[int, float],
) -> str | None:  # fmt: skip
    floor = settings.verify_floor if settings.verify else settings.threshold
    if not exact and similarity < floor:
        return f"closest question only {similarity:.2f} similar"
    if not row["evidence_current"]:
        return "its evidence changed since"
    if row["rejected"]:
        return "an answer like it was rejected as wrong"
    cited = set(row["cited"])
    top = retrieved.ranked[: settings.best_of]
    # Evidence agrees when the cited passages are retrieved for the new question, or would be: as
    # close to it as its own evidence (fusion and judging reorder near-ties), or in the same
    # section as its best evidence (a long discussion spans several passages of one section).
    close = min((closeness.get(c, 0.0) for c in cited), default=0.0)
    same_section = bool(_sections(row["citations"]) & {retrieved.sections[c] for c in top if c in retrieved.sections})
    if not cited <= retrieved.ids() and not same_section and close < retrieved.similarity_rank(len(retrieved.ranked)):
        return "its evidence is not what this question retrieves"
    best = cited & set(top) or same_section or close >= retrieved.similarity_rank(settings.best_of)
    if similarity < settings.question_floor and not best:
        return "this question's best evidence is not what it cites"
    if row["window_key"] != key.window_key:
        return "different time window"
    if exact:
        return None
    cached = question_shape(row["question"])
    cached = QuestionShape(row["intent"], row["negated"], frozenset(row["entities"]), cached.words, cached.surface)
    passages = [retrieved.texts.get(c, "") for c in sorted(cited)]
    if mismatch := shape_mismatch(cached, shape, "\n".join(passages)):
        return mismatch
    if not same_part(Outline.of(passages, line_words), subject_words(cached), subject_words(shape), same_word):
        return "it is about another line of the passage the answer cites"
    return predicate_mismatch(cached, shape, "\n".join(passages), row["answer"])


def _sections(citations: list[dict[str, Any]]) -> set[str]:
    return {f"{c['meeting_id']}|{c['section']}" for c in citations if c.get("kind", "passage") == "passage"}


def mark_hit(conn: psycopg.Connection, tenant: str, entry_id: int) -> str | None:
    """Count a hit on the entry; the model that wrote it, None when the entry is gone (rejected
    or evicted while a verifier was being asked)."""
    row = conn.execute(
        """UPDATE cache_entries SET hit_count = hit_count + 1, last_hit_at = now() WHERE tenant_id = %s AND id = %s
           RETURNING model""",
        (tenant, entry_id),
    ).fetchone()
    return row[0] if row else None


def store(
    conn: psycopg.Connection,
    key: CacheKey,
    shape: QuestionShape,
    *,
    answer: str,
    citations: list[dict[str, Any]],
    usage: Usage,
    cost_usd: Decimal | None,
    latency_ms: int,
    settings: CacheSettings,
) -> int | None:
    """Keep a good answer (None when one like it was rejected); its links to the cited chunks
    make re-ingest drop it."""
    cited = {c["chunk_id"]: c["content_hash"] for c in citations if c.get("chunk_id")}
    if rejected(conn, key.tenant, shape.family, cited):
        return None
    row = conn.execute(
        """INSERT INTO cache_entries (tenant_id, model, prompt_version, question, question_norm, question_hash,
                                      window_key, intent, negated, entities, embedding, answer, citations,
                                      prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms,
                                      expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now() + %s)
           RETURNING id""",
        (
            key.tenant,
            key.model,
            key.prompt_version,
            key.question,
            key.question_norm,
            key.question_hash,
            key.window_key,
            shape.family,
            shape.negated,
            sorted(shape.entities),
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
        """DELETE FROM cache_entries WHERE tenant_id = %s AND id IN (
               SELECT id FROM cache_entries WHERE tenant_id = %s
               ORDER BY COALESCE(last_hit_at, created_at) DESC, id DESC OFFSET %s)""",
        (tenant, tenant, max_entries),
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
        rejections = cur.execute(
            "SELECT count(*) AS rejected, max(created_at) AS last_rejected FROM cache_rejections WHERE tenant_id = %s",
            (tenant,),
        ).fetchone()
    verifiers = [v.as_json() for v in trust.standings(conn, tenant)]
    return {**(row or {}), **(rejections or {}), "verifiers": verifiers}


@dataclass(frozen=True)
class Rejection:
    entry_id: int
    question: str
    intent: str
    chunk_ids: list[int]
    also_dropped: int  # other entries of that intent citing exactly those chunks
    distrusted: list[str] = field(default_factory=list)  # verifier models that had approved a hit of it


def rejected(conn: psycopg.Connection, tenant: str, intent: str, chunk_ids: Any) -> bool:
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM cache_rejections
                          WHERE tenant_id = %s AND intent = %s AND chunk_ids = %s::bigint[])""",
        (tenant, intent, sorted(chunk_ids)),
    ).fetchone()
    return bool(row and row[0])


def reject(conn: psycopg.Connection, tenant: str, entry_id: int, *, reason: str | None = None) -> Rejection | None:
    """ "This was wrong": drop the entry, and never serve or keep an answer of its intent citing
    exactly its chunks again (for this tenant). None when there is no such entry."""
    with conn.cursor(row_factory=dict_row) as cur:
        entry = cur.execute(
            """SELECT question, answer, intent, cost_usd, hit_count
               FROM cache_entries WHERE tenant_id = %s AND id = %s FOR UPDATE""",
            (tenant, entry_id),
        ).fetchone()
    if entry is None:
        return None
    entry["chunk_ids"] = [
        r[0]
        for r in conn.execute(
            "SELECT chunk_id FROM cache_entry_chunks WHERE tenant_id = %s AND entry_id = %s ORDER BY 1",
            (tenant, entry_id),
        )
    ]
    distrusted = trust.blame_rejection(conn, tenant, entry_id)
    conn.execute(
        """INSERT INTO cache_rejections (tenant_id, entry_id, question, answer, intent, chunk_ids, cost_usd,
                                         hit_count, reason)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (tenant, entry_id, entry["question"], entry["answer"], entry["intent"], entry["chunk_ids"],
         entry["cost_usd"], entry["hit_count"], reason),
    )  # fmt: skip
    conn.execute("DELETE FROM cache_entries WHERE tenant_id = %s AND id = %s", (tenant, entry_id))
    alike = conn.execute(
        """DELETE FROM cache_entries e WHERE tenant_id = %s AND intent = %s
             AND ARRAY(SELECT chunk_id FROM cache_entry_chunks l
                       WHERE l.tenant_id = %s AND l.entry_id = e.id ORDER BY 1) = %s::bigint[]""",
        (tenant, entry["intent"], tenant, entry["chunk_ids"]),
    ).rowcount
    return Rejection(entry_id, entry["question"], entry["intent"], list(entry["chunk_ids"]), alike, distrusted)


def inspect(conn: psycopg.Connection, tenant: str, *, limit: int = 20) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT id, question, model, prompt_version, window_key, intent, entities, hit_count, cost_usd,
                      cost_usd * hit_count AS saved_usd, created_at, last_hit_at, expires_at,
                      left(answer, 200) AS answer
               FROM cache_entries WHERE tenant_id = %s
               ORDER BY COALESCE(last_hit_at, created_at) DESC LIMIT %s""",
            (tenant, limit),
        ).fetchall()


def clear(conn: psycopg.Connection, tenant: str) -> int:
    return conn.execute("DELETE FROM cache_entries WHERE tenant_id = %s", (tenant,)).rowcount
