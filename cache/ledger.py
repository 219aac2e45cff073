"""The ledger: every LLM request, every cache hit and every question, with tokens, dollars and time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from minutebook.cache.prices import PriceTable
from minutebook.cache.semantic_cache import CachedAnswer
from minutebook.core.database import tenant_transaction
from minutebook.core.errors import DatabaseError
from minutebook.core.llm import Attempt

# A paid LLM call must reach the ledger: its write is retried on a fresh connection (the pool
# replaces a dead one), pausing 0.5 s then 1 s, before it is logged as lost and the caller told
# to retry. cache/semantic_cache.py RECORDING_BUDGET allows for these attempts.
LEDGER_ATTEMPTS = 3
LEDGER_PAUSE = 0.5
log = logging.getLogger("minutebook.ledger")
T = TypeVar("T")


def write_ledger(
    pool: ConnectionPool, tenant: str, write: Callable[[psycopg.Connection], T], *, calls: list[Attempt], question: str
) -> T:
    """Run `write` (ledger rows of paid `calls`) in one tenant transaction, retried on a fresh
    connection; when the database keeps failing, log the calls loudly (so they can be entered by
    hand: a lost row is an under-counted bill) and raise a retryable DatabaseError."""
    for attempt in range(1, LEDGER_ATTEMPTS + 1):
        try:
            with tenant_transaction(pool, tenant) as conn:
                return write(conn)
        except psycopg.OperationalError as exc:  # the pool's timeout is one
            if attempt == LEDGER_ATTEMPTS:
                log.error(
                    "LEDGER WRITE LOST for tenant %s, question %s: %s; LLM calls: %r", tenant, question, exc, calls
                )
                raise DatabaseError("the database is unavailable, so the answer was not recorded; try again") from exc
            log.warning("ledger write failed (attempt %d of %d), retrying: %s", attempt, LEDGER_ATTEMPTS, exc)
            time.sleep(LEDGER_PAUSE * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def record_attempts(
    conn: psycopg.Connection,
    prices: PriceTable,
    attempts: list[Attempt],
    *,
    tenant: str,
    purpose: str,
    question_hash: str,
) -> Decimal | None:
    """Every attempt in the ledger, billed for what it received (a failed attempt usually
    received nothing); their total cost (None when a model's price is unknown)."""
    total: Decimal | None = Decimal(0)
    for a in attempts:
        cost = prices.cost(a.model, a.usage) if a.usage.total else Decimal(0)
        record_llm_call(conn, tenant=tenant, purpose=purpose, attempt=a, cost_usd=cost, question_hash=question_hash)
        total = None if total is None or cost is None else total + cost
    return total


def record_llm_call(
    conn: psycopg.Connection,
    *,
    tenant: str,
    purpose: str,
    attempt: Attempt,
    cost_usd: Decimal | None,
    question_hash: str | None = None,
) -> int:
    row = conn.execute(
        """INSERT INTO llm_calls (tenant_id, purpose, model, prompt_tokens, completion_tokens, cached_tokens,
                                  cost_usd, latency_ms, outcome, status_code, error, question_hash)
           VALUES (%(tenant)s, %(purpose)s, %(model)s, %(prompt)s, %(completion)s, %(cached)s,
                   %(cost)s, %(latency)s, %(outcome)s, %(status)s, %(error)s, %(question_hash)s) RETURNING id""",
        {
            "tenant": tenant,
            "purpose": purpose,
            "model": attempt.model,
            "prompt": attempt.usage.prompt_tokens,
            "completion": attempt.usage.completion_tokens,
            "cached": attempt.usage.cached_tokens,
            "cost": cost_usd,
            "latency": attempt.latency_ms,
            "outcome": attempt.outcome,
            "status": attempt.status_code,
            "error": attempt.error,
            "question_hash": question_hash,
        },
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_hit(
    conn: psycopg.Connection, found: CachedAnswer, *, tenant: str, question: str, latency_ms: int,
    entry_model: str | None, verified_by: str | None = None,
) -> None:  # fmt: skip
    """A hit saved what the entry's answer cost (gross: a verification is ledgered as its own
    spend), even when the entry was dropped (rejected, evicted) while a verifier was being
    asked: the row then points at no entry (`entry_model` None, from `mark_hit`)."""
    conn.execute(
        """INSERT INTO cache_hits (tenant_id, entry_id, model, question, cached_question, tier, similarity,
                                   tokens_saved, cost_saved_usd, latency_saved_ms, latency_ms, verified_by)
           VALUES (%(tenant)s, %(entry)s, %(model)s, %(question)s, %(cached_question)s, %(tier)s, %(similarity)s,
                   %(tokens_saved)s, %(cost_saved)s, %(latency_saved)s, %(latency)s, %(verified_by)s)""",
        {
            "tenant": tenant,
            "entry": found.entry_id if entry_model is not None else None,
            "model": entry_model,
            "question": question,
            "cached_question": found.question,
            "tier": found.tier,
            "similarity": found.similarity,
            "tokens_saved": found.usage.total,
            "cost_saved": found.cost_usd,
            "latency_saved": max(0, found.latency_ms - latency_ms),
            "latency": latency_ms,
            "verified_by": verified_by,
        },
    )


def record_question(
    conn: psycopg.Connection,
    *,
    tenant: str,
    question: str,
    question_norm: str,
    outcome: str,
    model: str | None,
    cost_usd: Decimal | None,
    latency_ms: int,
) -> None:
    conn.execute(
        """INSERT INTO questions (tenant_id, question, question_norm, outcome, model, cost_usd, latency_ms)
           VALUES (%(tenant)s, %(question)s, %(norm)s, %(outcome)s, %(model)s, %(cost)s, %(latency)s)""",
        {
            "tenant": tenant,
            "question": question,
            "norm": question_norm,
            "outcome": outcome,
            "model": model,
            "cost": cost_usd,
            "latency": latency_ms,
        },
    )


def spent_this_month(conn: psycopg.Connection, tenant: str) -> Decimal:
    """LLM dollars the tenant spent since the first of this month (UTC), failed calls included."""
    row = conn.execute(
        """SELECT COALESCE(sum(cost_usd), 0) FROM llm_calls
           WHERE tenant_id = %s AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'""",
        (tenant,),
    ).fetchone()
    return Decimal(row[0]) if row else Decimal(0)


def recent_questions(conn: psycopg.Connection, tenant: str, *, limit: int = 6) -> list[str]:
    """The tenant's latest distinct questions, newest first (read from its last 200, by index)."""
    rows = conn.execute(
        """SELECT question, question_norm FROM questions WHERE tenant_id = %s
           ORDER BY created_at DESC LIMIT 200""",
        (tenant,),
    ).fetchall()
    seen: set[str] = set()
    found: list[str] = []
    for question, norm in rows:
        if norm not in seen and len(found) < limit:
            seen.add(norm)
            found.append(question)
    return found
