"""The ledger: every LLM request, every cache hit and every question, with tokens, dollars and time."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from minutebook.core.llm import Attempt


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
    conn: psycopg.Connection,
    *,
    tenant: str,
    entry_id: int,
    question: str,
    cached_question: str,
    tier: str,
    similarity: float,
    tokens_saved: int,
    cost_saved: Decimal | None,
    original_latency_ms: int,
    latency_ms: int,
) -> None:
    conn.execute(
        """INSERT INTO cache_hits (tenant_id, entry_id, model, question, cached_question, tier, similarity,
                                   tokens_saved, cost_saved_usd, latency_saved_ms, latency_ms)
           VALUES (%(tenant)s, %(entry)s, (SELECT model FROM cache_entries WHERE id = %(entry)s), %(question)s,
                   %(cached_question)s, %(tier)s, %(similarity)s, %(tokens_saved)s, %(cost_saved)s,
                   %(latency_saved)s, %(latency)s)""",
        {
            "tenant": tenant,
            "entry": entry_id,
            "question": question,
            "cached_question": cached_question,
            "tier": tier,
            "similarity": similarity,
            "tokens_saved": tokens_saved,
            "cost_saved": cost_saved,
            "latency_saved": max(0, original_latency_ms - latency_ms),
            "latency": latency_ms,
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
