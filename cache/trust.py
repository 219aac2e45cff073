"""Whether a verifier may judge the cache's grey zone: it earns trust on canary pairs before it
serves anything, and keeps earning it.

A canary is two questions with evidence and a known verdict. Built-in pairs ask about the same
entity with another predicate ("go on leave" / "back from leave", "first suspected" / "root
cause", "owner" / "reviewer"), another entity or number, and paraphrases that are the same
question. Pairs drawn from the tenant's own cache entries that ask another kind of thing (who /
when / why) or about other things are known to differ. A model that says "yes" to a pair it should
reject, fails to answer, or says "no" to every pair that is the same (it would only add cost)
turns the grey zone off for itself, with the reason, until it passes again. A user rejecting an
answer that the model approved turns it off until someone resets it (`minutebook cache
reset-verifier`). With no standing, or a standing older than `CANARY_MAX_AGE` or
`CANARY_EVERY` verifications, the canaries are asked again first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from minutebook.cache.shape import EXCLUSIVE_FAMILIES
from minutebook.cache.verify import Verifier
from minutebook.core.llm import Attempt

# bench/cache.py: an always-yes verifier is caught before its first grey-zone hit by any one of
# the different pairs; six of them per check cost about 1% of the verifications they license.
CANARY_DIFFERENT = 4  # built-in pairs that must be rejected, drawn per check
CANARY_SAME = 2  # built-in pairs that are one question, drawn per check
CANARY_TENANT = 2  # pairs from the tenant's cache entries known to differ
CANARY_EVERY = 200  # verifications between checks
CANARY_MAX_AGE = timedelta(days=1)
TENANT_POOL = 200  # recent cache entries the tenant's pairs are drawn from


@dataclass(frozen=True)
class Canary:
    cached: str
    new: str
    evidence: str
    same: bool


# Same entity, another predicate; another entity or number; and paraphrases of one question.
BUILT_IN: tuple[Canary, ...] = (
    Canary("When is Jo back from leave?", "When did Jo go on leave?",
           "Jo: on leave from March 3, back on March 17.", False),
    Canary("What was the root cause of the latency spike?", "What did Ana first suspect caused the latency spike?",
           "Latency spike: Ana first suspected the CDN; the root cause was a lock on the orders table.", False),
    Canary("Who owns the billing migration?", "Who reviews the billing migration?",
           "Billing migration: owner Priya, reviewer Tom.", False),
    Canary("When does the code freeze start?", "When does the code freeze end?",
           "Code freeze from Nov 1 to Nov 15.", False),
    Canary("What was the planned budget for Q3?", "What was the actual spend in Q3?",
           "Q3: budget $40k planned; actual spend $52k.", False),
    Canary("When will Okta SSO be ready?", "When will Google SSO be ready?",
           "Okta SSO ready Nov 15; Google SSO slipped to January.", False),
    Canary("How many customers churned in March?", "How many customers signed up in March?",
           "March: 14 customers churned, 230 signed up.", False),
    Canary("What is the first milestone of the beta?", "What is the final milestone of the beta?",
           "Beta milestones: first, private preview (May 2); final, public beta (July 10).", False),
    Canary("Who joined the platform team in May?", "Who left the platform team in May?",
           "May: Lee joined the platform team; Sam left it.", False),
    Canary("Why was the launch delayed?", "When is the launch now?",
           "Launch delayed to June 4 because the security review found an auth bug.", False),
    Canary("What did we decide about issue #412?", "What did we decide about issue #413?",
           "#412: close as won't fix. #413: merge after the release.", False),
    Canary("Who owns the billing migration?", "who's responsible for the billing migration",
           "Billing migration: owner Priya, reviewer Tom.", True),
    Canary("When does the code freeze start?", "code freeze start date?",
           "Code freeze from Nov 1 to Nov 15.", True),
    Canary("What did we decide about the vendor contract?", "What was the decision on the vendor contract?",
           "Decision: renew the vendor contract for one year.", True),
    Canary("Why was the launch delayed?", "what's the reason the launch slipped",
           "Launch delayed to June 4 because the security review found an auth bug.", True),
)  # fmt: skip


@dataclass(frozen=True)
class Checked:
    """What the canaries showed, and the calls they cost (for the ledger)."""

    trusted: bool
    reason: str
    passed: int
    total: int
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(frozen=True)
class Standing:
    model: str
    trusted: bool
    reason: str
    checked_at: datetime
    since_check: int
    approvals: int
    rejected: int
    canaries_passed: int
    canaries_total: int

    def due(self, now: datetime) -> bool:
        """Canaries are asked again when the standing is old (a user's rejection is not lifted by them)."""
        if self.rejected:
            return False
        return now - self.checked_at >= CANARY_MAX_AGE or self.since_check >= CANARY_EVERY

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "trusted": self.trusted, "reason": self.reason, "checked_at": self.checked_at,
            "canaries": f"{self.canaries_passed}/{self.canaries_total}", "approved_hits": self.approvals,
            "rejected_approvals": self.rejected,
        }  # fmt: skip


_COLUMNS = """model, trusted, reason, checked_at, verifications_since_check, approvals, rejected_approvals,
              canaries_passed, canaries_total"""


def standing(conn: psycopg.Connection, tenant: str, model: str) -> Standing | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM verifier_trust WHERE tenant_id = %s AND model = %s", (tenant, model)
    ).fetchone()
    return Standing(*row) if row else None


def standings(conn: psycopg.Connection, tenant: str) -> list[Standing]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM verifier_trust WHERE tenant_id = %s ORDER BY model", (tenant,))
    return [Standing(*row) for row in rows.fetchall()]


def now(conn: psycopg.Connection) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]


def draw(conn: psycopg.Connection, tenant: str, rng: random.Random) -> list[Canary]:
    """The canaries for one check: built-in pairs of both kinds, and the tenant's own pairs."""
    different = [c for c in BUILT_IN if not c.same]
    same = [c for c in BUILT_IN if c.same]
    chosen = rng.sample(different, CANARY_DIFFERENT) + rng.sample(same, CANARY_SAME)
    chosen += tenant_pairs(conn, tenant, rng)
    rng.shuffle(chosen)
    return chosen


def tenant_pairs(conn: psycopg.Connection, tenant: str, rng: random.Random) -> list[Canary]:
    """Two cached questions that ask another kind of thing (who / when / why) or about other
    named things: they need different answers, whatever a verifier says."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT e.id, e.question, e.intent, e.entities,
                      (SELECT string_agg(c.text, E'\n') FROM cache_entry_chunks l
                        JOIN chunks c ON c.tenant_id = l.tenant_id AND c.id = l.chunk_id
                       WHERE l.tenant_id = %s AND l.entry_id = e.id) AS evidence
               FROM cache_entries e WHERE e.tenant_id = %s ORDER BY e.created_at DESC LIMIT %s""",
            (tenant, tenant, TENANT_POOL),
        ).fetchall()
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1 :] if _differ(a, b)]
    picked = rng.sample(pairs, min(CANARY_TENANT, len(pairs)))
    return [Canary(a["question"], b["question"], a["evidence"] or "", False) for a, b in picked]


def _differ(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Known to need different answers: one asks who, the other when or why; or they name wholly
    different things. (A "what" may be a "when" the shape reader did not see: never counted.)"""
    if a["intent"] != b["intent"] and {a["intent"], b["intent"]} <= EXCLUSIVE_FAMILIES:
        return True
    return bool(a["entities"] and b["entities"] and not set(a["entities"]) & set(b["entities"]))


def check(verifier: Verifier, canaries: list[Canary]) -> Checked:
    """Ask the verifier the canaries, up to its first failure (an LLM call each: run with no
    connection held)."""
    attempts: list[Attempt] = []
    passed = 0
    failures: list[str] = []
    same_said_no = 0
    for canary in canaries:
        verdict = verifier(canary.cached, canary.new, canary.evidence)
        attempts += verdict.attempts
        if not verdict.answered:
            failures.append(f"gave no clear yes or no on {canary.new!r}")
        elif verdict.same and not canary.same:
            failures.append(f"said {canary.cached!r} and {canary.new!r} ask for the same information")
        elif not verdict.same and canary.same:
            same_said_no += 1
            passed += 1  # a "no" is never a wrong answer served; it only costs the hit
        else:
            passed += 1
        if failures:
            break
    same_total = sum(c.same for c in canaries)
    if failures:
        return Checked(False, f"{failures[0]} (canary)", passed, len(canaries), attempts)
    if same_total and same_said_no == same_total:
        reason = "said no to every pair that asks the same thing: it would only add cost (canary)"
        return Checked(False, reason, passed - same_said_no, len(canaries), attempts)
    return Checked(True, f"passed {passed} of {len(canaries)} canary pairs", passed, len(canaries), attempts)


def save(conn: psycopg.Connection, tenant: str, model: str, checked: Checked) -> Standing:
    row = conn.execute(
        f"""INSERT INTO verifier_trust (tenant_id, model, trusted, reason, canaries_passed, canaries_total)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, model) DO UPDATE
               SET trusted = EXCLUDED.trusted AND verifier_trust.rejected_approvals = 0,
                   reason = CASE WHEN verifier_trust.rejected_approvals = 0 THEN EXCLUDED.reason
                                 ELSE verifier_trust.reason END,
                   canaries_passed = EXCLUDED.canaries_passed, canaries_total = EXCLUDED.canaries_total,
                   checked_at = EXCLUDED.checked_at, verifications_since_check = 0
            RETURNING {_COLUMNS}""",
        (tenant, model, checked.trusted, checked.reason, checked.passed, checked.total),
    ).fetchone()
    assert row is not None
    return Standing(*row)


def count_verification(conn: psycopg.Connection, tenant: str, model: str, *, approved: bool) -> None:
    conn.execute(
        """UPDATE verifier_trust SET verifications_since_check = verifications_since_check + 1,
                                     approvals = approvals + %s::int
           WHERE tenant_id = %s AND model = %s""",
        (approved, tenant, model),
    )


def blame_rejection(conn: psycopg.Connection, tenant: str, entry_id: int) -> list[str]:
    """A user rejected a cached answer: every model that approved a hit of it loses its trust.
    The models blamed."""
    rows = conn.execute(
        """UPDATE verifier_trust t
              SET trusted = false, rejected_approvals = rejected_approvals + 1,
                  reason = format('a user rejected an answer it approved (cache entry %%s)', %s::bigint)
            WHERE t.tenant_id = %s AND t.model IN (SELECT verified_by FROM cache_hits
                                                  WHERE tenant_id = %s AND entry_id = %s AND verified_by IS NOT NULL)
            RETURNING t.model""",
        (entry_id, tenant, tenant, entry_id),
    ).fetchall()
    return [r[0] for r in rows]


def reset(conn: psycopg.Connection, tenant: str, model: str | None = None) -> int:
    """Forget a model's standing (all models' when None): its next grey-zone candidate asks the canaries."""
    if model is None:
        return conn.execute("DELETE FROM verifier_trust WHERE tenant_id = %s", (tenant,)).rowcount
    return conn.execute("DELETE FROM verifier_trust WHERE tenant_id = %s AND model = %s", (tenant, model)).rowcount
