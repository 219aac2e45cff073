"""The question path: retrieve evidence, try the semantic cache, else ask the LLM with citations.

Without an LLM configured (or once the tenant's monthly LLM budget is spent) the answer is
extractive (the best evidence lines, cited) and says so. When nothing relevant is retrieved the
answer is "not in the notes", at no LLM cost. Every question, however answered, is in the ledger.

No connection is held while an LLM works: evidence and the cache lookup are read in one
transaction, the connection goes back to the pool, and the answer is recorded in another.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from minutebook.cache import semantic_cache, trust
from minutebook.cache.ledger import record_attempts, record_hit, record_question, spent_this_month, write_ledger
from minutebook.cache.normalise import normalise_question
from minutebook.cache.prices import PriceTable
from minutebook.cache.semantic_cache import CachedAnswer, CacheKey, CacheSettings, Miss
from minutebook.cache.shape import QuestionShape, read_shape
from minutebook.cache.verify import Verifier, llm_verifier
from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import LLMError, QueryError
from minutebook.core.llm import Attempt, Completion, LLMClient, Usage
from minutebook.search.evidence import Citation, Evidence, cited_numbers, prompt
from minutebook.search.evidence import retrieve_evidence as retrieve
from minutebook.search.extractive import extractive_answer
from minutebook.search.notes_search import resolve_window
from minutebook.search.owners import question_topic
from minutebook.search.relevance import unrelated_similarity
from minutebook.search.timewords import TimeWindow

PROMPT_VERSION = "answer-v4"  # v2: evidence fenced as data; v3: 1-based citation lines; v4: owner unclear
NOT_IN_NOTES = "That is not in the notes: nothing retrieved is relevant enough to answer it."
BUDGET_SPENT = "the monthly LLM budget is spent: cached or extractive answers only"
MAX_QUESTION = 2000
log = logging.getLogger("minutebook.answer")
Cost = Decimal | None  # None: the model's price is unknown

AnswerMode = Literal["llm", "cached", "extractive", "not_in_notes"]
QuestionOutcome = Literal["llm", "hit_exact", "hit_semantic", "extractive", "not_in_notes", "failed"]


@dataclass(frozen=True)
class CacheOutcome:
    hit: bool
    tier: str | None = None  # exact | semantic
    similarity: float | None = None
    entry_id: int | None = None
    cached_question: str | None = None
    miss_reason: str | None = None
    stored: bool = False
    verified: bool = False  # a grey-zone hit a verifier agreed to
    how_to_reject: str | None = None  # when an answer is (now) cached: how to say it is wrong


def reject_hint(entry_id: int) -> str:
    return f"wrong? `minutebook cache reject {entry_id}` or POST /v1/cache/{entry_id}/reject"


@dataclass
class Answer:
    question: str
    text: str
    mode: AnswerMode
    citations: list[Citation] = field(default_factory=list)
    cache: CacheOutcome = field(default_factory=lambda: CacheOutcome(False))
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: Decimal | None = Decimal(0)
    saved_usd: Decimal | None = Decimal(0)
    latency_ms: int = 0
    interpretation: str | None = None
    llm_attempts: int = 0
    notice: str | None = None  # why the answer is not what the caller may expect (budget spent)


@dataclass(frozen=True)
class AskOptions:
    tenant: str
    as_of: date
    use_cache: bool = True
    cache: CacheSettings = field(default_factory=CacheSettings)
    k: int = 6
    items: int = 4
    monthly_budget_usd: Decimal | None = None  # once spent this month: cached or extractive answers


@dataclass
class _Asking:
    """One question on its way through: what every step needs, in one place."""

    pool: ConnectionPool
    prices: PriceTable
    options: AskOptions
    key: CacheKey
    window: TimeWindow | None
    on_token: Callable[[str], None] | None
    started: float
    searched: str
    evidence: Evidence = field(default_factory=lambda: Evidence([], [], {}))
    _shape: QuestionShape | None = None

    def elapsed(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    def answer(self, text: str, mode: AnswerMode, citations: list[Citation] | None = None, **more: object) -> Answer:
        interpretation = f'"{self.window.phrase}" interpreted as {self.window.describe()}' if self.window else None
        return Answer(
            self.key.question, text, mode, citations or [], latency_ms=self.elapsed(), interpretation=interpretation,
            **more,  # type: ignore[arg-type]
        )  # fmt: skip

    def transaction(self) -> AbstractContextManager[psycopg.Connection]:
        return tenant_transaction(self.pool, self.options.tenant)

    def record(
        self, conn: psycopg.Connection, outcome: QuestionOutcome, model: str | None, cost: Cost = Decimal(0)
    ) -> None:
        """The one ledger row every question gets, however it was answered (or failed)."""
        record_question(
            conn, tenant=self.options.tenant, question=self.key.question, question_norm=self.key.question_norm,
            outcome=outcome, model=model, cost_usd=cost, latency_ms=self.elapsed(),
        )  # fmt: skip

    def record_calls(
        self, calls: list[Attempt], purpose: str, outcome: QuestionOutcome | None = None, model: str | None = None
    ) -> Cost:
        """Paid LLM calls into the ledger, with the question's row when it ends here; retried
        (cache/ledger.py `write_ledger`): a lost row is an under-counted bill. Their cost."""

        def write(conn: psycopg.Connection) -> Cost:
            cost = record_attempts(
                conn, self.prices, calls, tenant=self.options.tenant, purpose=purpose,
                question_hash=self.key.question_hash,
            )  # fmt: skip
            if outcome:
                self.record(conn, outcome, model, cost)
            return cost

        return write_ledger(self.pool, self.options.tenant, write, calls=calls, question=self.key.question_hash)

    def shape(self, conn: psycopg.Connection) -> QuestionShape:
        """What the question asks (read once, in a transaction with the tenant set)."""
        if self._shape is None:
            self._shape = read_shape(conn, self.options.tenant, self.searched, self.evidence.retrieved.texts.values())
        return self._shape

    def lookup(self, conn: psycopg.Connection) -> CachedAnswer | Miss:
        return semantic_cache.lookup(conn, self.key, self.shape(conn), self.evidence.retrieved, self.options.cache)


def ask(
    pool: ConnectionPool,
    embedder: Embedder,
    llm: LLMClient | None,
    prices: PriceTable,
    question: str,
    *,
    options: AskOptions,
    on_token: Callable[[str], None] | None = None,
    verifier: Verifier | None = None,
) -> Answer:
    """`verifier` judges the grey zone when `options.cache.verify` (default: the answering LLM)."""
    started = time.perf_counter()
    searched, window, since, until = _read_question(question, options.as_of)
    topic = question_topic(searched)
    embeddings = embedder.encode_queries([searched, topic])
    key = cache_key(options.tenant, llm.model if llm else "", question, window, embeddings[0])
    q = _Asking(pool, prices, options, key, window, on_token, started, searched)
    with q.transaction() as conn:
        q.evidence = retrieve(
            conn, searched, topic, (embeddings[0], embeddings[1]), tenant=options.tenant,
            since=since, until=until, k=options.k, items=options.items,
            unrelated=unrelated_similarity(conn, embedder, tenant=options.tenant),
        )  # fmt: skip
        if not q.evidence.relevant():
            q.record(conn, "not_in_notes", llm.model if llm else None)
            declined = q.evidence.declined  # the judge's reason names the user's own words
            return q.answer(f"That is {declined}." if declined else NOT_IN_NOTES, "not_in_notes")
        budget = options.monthly_budget_usd
        budget_spent = llm is not None and budget is not None and spent_this_month(conn, options.tenant) >= budget
        if llm is None or budget_spent:
            return _without_llm(q, conn, budget_spent)
        found = q.lookup(conn) if options.use_cache else Miss("cache bypassed (--no-cache)")
        if isinstance(found, CachedAnswer):
            return _serve_hit(q, conn, found)
    if found.grey and options.cache.verify:  # from here on, no connection is held while an LLM works
        judge = verifier or llm_verifier(llm)
        if not (standing := _standing(q, judge)).trusted:
            found = Miss(f"{found.reason}; the grey zone is off, as verifier {judge.model} {standing.reason}")
        elif (verified := _verify(q, found.grey, judge)) is not None:
            return verified
        else:
            found = Miss(f"{found.reason}, and the verifier said it asks for something else")
    with semantic_cache.single_flight(pool, key, answer_budget=llm.retry_budget):
        if options.use_cache:  # whoever held the flight may have answered it meanwhile
            with q.transaction() as conn:
                if isinstance(again := q.lookup(conn), CachedAnswer):
                    return _serve_hit(q, conn, again)
        return _ask_llm(q, llm, found.reason)


def cache_key(tenant: str, model: str, question: str, window: TimeWindow | None, embedding: np.ndarray) -> CacheKey:
    """What the cache finds a question by: its words, its time window and its meaning."""
    return CacheKey(
        tenant, model, PROMPT_VERSION, question, normalise_question(question), window.key() if window else "", embedding
    )  # fmt: skip


def _read_question(question: str, as_of: date) -> tuple[str, TimeWindow | None, date | None, date | None]:
    if not question.strip():
        raise QueryError("ask needs a question")
    if len(question) > MAX_QUESTION:
        raise QueryError(f"questions are limited to {MAX_QUESTION:,} characters")
    return resolve_window(question, since=None, until=None, as_of=as_of)


def _without_llm(q: _Asking, conn: psycopg.Connection, budget_spent: bool) -> Answer:
    """No LLM to ask: a cached answer still costs nothing (budget spent), else the best lines."""
    notice = BUDGET_SPENT if budget_spent else None
    if budget_spent and isinstance(found := q.lookup(conn), CachedAnswer):
        return _serve_hit(q, conn, found, notice=notice)
    text, citations = extractive_answer(conn, q.key.question, q.evidence, tenant=q.options.tenant)
    q.record(conn, "extractive", None)
    return q.answer(text, "extractive", citations, notice=notice)


def _standing(q: _Asking, verifier: Verifier) -> trust.Standing:
    """Whether the verifier may judge the grey zone: its standing, after asking it the canaries
    when it has none or is due again (cache/trust.py; their calls are ledgered as verify-canary)."""
    tenant = q.options.tenant
    with q.transaction() as conn:
        known = trust.standing(conn, tenant, verifier.model)
        if known is not None and not known.due(trust.now(conn)):
            return known
        canaries = trust.draw(conn, tenant, random.Random())
    checked = trust.check(verifier, canaries)
    q.record_calls(checked.attempts, "verify-canary")
    with q.transaction() as conn:
        return trust.save(conn, tenant, verifier.model, checked)


def _verify(q: _Asking, grey: CachedAnswer, verifier: Verifier) -> Answer | None:
    """Ask the verifier about a grey-zone candidate: served (net of the verification) if it agrees."""
    cited = {c["chunk_id"] for c in grey.citations if c.get("chunk_id")}
    texts = q.evidence.retrieved.texts
    verdict = verifier(grey.question, q.key.question, "\n".join(texts.get(c, "") for c in cited))
    cost = q.record_calls(verdict.attempts, "verify")
    with q.transaction() as conn:
        trust.count_verification(conn, q.options.tenant, verifier.model, approved=verdict.same)
        if not verdict.same:
            return None
        return _serve_hit(q, conn, grey, verify_cost=cost or Decimal(0), verified_by=verifier.model)


def _serve_hit(
    q: _Asking, conn: psycopg.Connection, found: CachedAnswer, *, notice: str | None = None,
    verify_cost: Decimal | None = None, verified_by: str | None = None,
) -> Answer:  # fmt: skip
    """A cached answer; after a verification it saved the answer's cost minus the verification's."""
    entry_model = semantic_cache.mark_hit(conn, q.options.tenant, found.entry_id)
    record_hit(
        conn, found, tenant=q.options.tenant, question=q.key.question, latency_ms=q.elapsed(), entry_model=entry_model,
        verified_by=verified_by,
    )  # fmt: skip
    saved = found.cost_usd - (verify_cost or 0) if found.cost_usd is not None else None
    q.record(conn, "hit_exact" if found.tier == "exact" else "hit_semantic", None)
    outcome = CacheOutcome(
        True, found.tier, round(found.similarity, 4), found.entry_id, found.question, verified=verify_cost is not None,
        how_to_reject=reject_hint(found.entry_id),
    )  # fmt: skip
    citations = [Citation.from_json(c) for c in found.citations]
    return q.answer(found.answer, "cached", citations, cache=outcome, saved_usd=saved, notice=notice)


def _ask_llm(q: _Asking, llm: LLMClient, miss_reason: str) -> Answer:
    """The LLM's answer, asked with no connection held; ledgered (what was received, even when
    it failed or its reader left), then kept in the cache when it is whole and cites evidence."""
    attempts: list[Attempt] = []
    citations = q.evidence.citations()
    messages = prompt(q.key.question, q.options.as_of, q.window, q.evidence)
    try:
        completion = llm.complete(messages, on_token=q.on_token, on_attempt=attempts.append)
    except LLMError:  # recorded, never cached
        q.record_calls(attempts, "answer", "failed", llm.model)
        raise
    cost = q.record_calls(attempts, "answer", "llm", llm.model)
    cited = [citations[n] for n in cited_numbers(completion.text, len(citations))]
    entry_id = _store(q, completion, cited) if q.options.use_cache and completion.complete and cited else None
    outcome = CacheOutcome(
        False, miss_reason=miss_reason, stored=entry_id is not None, entry_id=entry_id,
        how_to_reject=reject_hint(entry_id) if entry_id is not None else None,
    )  # fmt: skip
    return q.answer(
        completion.text, "llm", cited, cache=outcome, model=completion.model, usage=completion.usage,
        cost_usd=cost, llm_attempts=completion.attempts,
    )  # fmt: skip


def _store(q: _Asking, completion: Completion, cited: list[Citation]) -> int | None:
    """Keep the answer for the next asker; the database failing now costs a cache entry, not the
    answer (it is paid for, ledgered and, in a stream, already shown)."""
    try:
        with q.transaction() as conn:
            return semantic_cache.store(
                conn, q.key, q.shape(conn), answer=completion.text, citations=[c.as_json() for c in cited],
                usage=completion.usage, cost_usd=q.prices.cost(completion.model, completion.usage),
                latency_ms=q.elapsed(), settings=q.options.cache,
            )  # fmt: skip
    except psycopg.OperationalError as exc:
        log.warning("the answer was not cached, the database failed: %s", exc)
        return None
