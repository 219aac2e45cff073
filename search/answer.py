"""The question path: retrieve evidence, try the semantic cache, else ask the LLM with citations.

Without an LLM configured (or once the tenant's monthly LLM budget is spent) the answer is
extractive (the best evidence lines, cited) and says so. When nothing relevant is retrieved the
answer is "not in the notes", at no LLM cost. Every question, however answered, is in the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from minutebook.cache import semantic_cache
from minutebook.cache.ledger import record_hit, record_llm_call, record_question, spent_this_month
from minutebook.cache.normalise import normalise_question
from minutebook.cache.prices import PriceTable
from minutebook.cache.semantic_cache import CachedAnswer, CacheKey, CacheSettings, Miss, Retrieved
from minutebook.cache.shape import QuestionShape, read_shape
from minutebook.cache.verify import Verifier, llm_verifier
from minutebook.core.database import set_tenant
from minutebook.core.embedder import Embedder
from minutebook.core.errors import LLMError, QueryError
from minutebook.core.llm import Attempt, LLMClient, Usage
from minutebook.search.evidence import Citation, Evidence, cited_numbers, extractive_answer, prompt, question_topic
from minutebook.search.evidence import retrieve_evidence as retrieve
from minutebook.search.notes_search import resolve_window
from minutebook.search.timewords import TimeWindow

PROMPT_VERSION = "answer-v3"  # v2: evidence fenced as data; v3: 1-based citation lines
NOT_IN_NOTES = "That is not in the notes: nothing retrieved is relevant enough to answer it."
BUDGET_SPENT = "the monthly LLM budget is spent: cached or extractive answers only"
MAX_QUESTION = 2000

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

    conn: psycopg.Connection
    llm: LLMClient | None
    prices: PriceTable
    options: AskOptions
    key: CacheKey
    window: TimeWindow | None
    on_token: Callable[[str], None] | None
    started: float
    searched: str
    evidence: Evidence = field(default_factory=lambda: Evidence([], [], {}))
    _shape: QuestionShape | None = None
    _retrieved: Retrieved | None = None

    def elapsed(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    def answer(self, text: str, mode: AnswerMode, citations: list[Citation] | None = None, **more: object) -> Answer:
        interpretation = f'"{self.window.phrase}" interpreted as {self.window.describe()}' if self.window else None
        return Answer(
            self.key.question, text, mode, citations or [], latency_ms=self.elapsed(), interpretation=interpretation,
            **more,  # type: ignore[arg-type]
        )  # fmt: skip

    def record(self, outcome: QuestionOutcome, *, model: str | None, cost: Decimal | None = Decimal(0)) -> None:
        """The one ledger row every question gets, however it was answered (or failed)."""
        record_question(
            self.conn,
            tenant=self.options.tenant,
            question=self.key.question,
            question_norm=self.key.question_norm,
            outcome=outcome,
            model=model,
            cost_usd=cost,
            latency_ms=self.elapsed(),
        )

    def retrieved(self) -> Retrieved:
        """Best evidence first (passages, then items' passages), then the rest of what was retrieved."""
        if self._retrieved is None:
            ranked = [h.chunk_id for h in self.evidence.hits] + [i.chunk_id for i in self.evidence.items if i.chunk_id]
            texts = {h.chunk_id: h.text for h in [*self.evidence.pool, *self.evidence.hits]}
            for i in self.evidence.items:
                if i.chunk_id and i.chunk_id not in texts:
                    texts[i.chunk_id] = "\n".join([i.context, i.text, i.evidence])
            pool = list(dict.fromkeys([*ranked, *(h.chunk_id for h in self.evidence.pool)]))
            sections = {
                h.chunk_id: f"{h.meeting_id}|{' › '.join(h.section_path)}"
                for h in [*self.evidence.pool, *self.evidence.hits]
            }
            similarities = [h.scores.get("vector") or 0.0 for h in self.evidence.hits]
            closeness = {
                h.chunk_id: float(v)
                for h in [*self.evidence.pool, *self.evidence.hits]
                if (v := h.scores.get("vector"))
            }
            self._retrieved = Retrieved(list(dict.fromkeys(ranked)), texts, pool, sections, similarities, closeness)
        return self._retrieved

    def shape(self) -> QuestionShape:
        """What the question asks (read once, in a transaction with the tenant set)."""
        if self._shape is None:
            self._shape = read_shape(self.conn, self.options.tenant, self.searched, self.retrieved().texts.values())
        return self._shape

    def lookup(self) -> CachedAnswer | Miss:
        return semantic_cache.lookup(self.conn, self.key, self.shape(), self.retrieved(), self.options.cache)


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
    with pool.connection() as conn:
        q = _Asking(conn, llm, prices, options, key, window, on_token, started, searched)
        with conn.transaction():
            set_tenant(conn, options.tenant)
            q.evidence = retrieve(
                conn, searched, topic, (embeddings[0], embeddings[1]), tenant=options.tenant,
                since=since, until=until, k=options.k, items=options.items,
            )  # fmt: skip
            if not q.evidence.relevant(windowed=window is not None):
                q.record("not_in_notes", model=llm.model if llm else None)
                return q.answer(NOT_IN_NOTES, "not_in_notes")
            budget_spent = llm is not None and _budget_spent(conn, options)
            if llm is None or budget_spent:
                return _without_llm(q, budget_spent)
            found = q.lookup() if options.use_cache else Miss("cache bypassed (--no-cache)")
            if isinstance(found, CachedAnswer):
                return _serve_hit(q, found)
            if found.grey and options.cache.verify:
                verdict = _verify(q, found.grey, verifier or llm_verifier(llm))
                if verdict is not None:
                    return _serve_hit(q, found.grey, verify_cost=verdict)
                found = Miss(f"{found.reason}, and the verifier said it asks for something else")
        with semantic_cache.single_flight(conn, key):
            if options.use_cache:  # whoever held the flight may have answered it meanwhile
                with conn.transaction():
                    set_tenant(conn, options.tenant)
                    if isinstance(again := q.lookup(), CachedAnswer):
                        return _serve_hit(q, again)
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


def _budget_spent(conn: psycopg.Connection, options: AskOptions) -> bool:
    budget = options.monthly_budget_usd
    return budget is not None and spent_this_month(conn, options.tenant) >= budget


def _without_llm(q: _Asking, budget_spent: bool) -> Answer:
    """No LLM to ask: a cached answer still costs nothing (budget spent), else the best lines."""
    notice = BUDGET_SPENT if budget_spent else None
    if budget_spent and isinstance(found := q.lookup(), CachedAnswer):
        return _serve_hit(q, found, notice=notice)
    text, used = extractive_answer(q.key.question, q.evidence)
    citations = q.evidence.citations()
    q.record("extractive", model=None)
    return q.answer(text, "extractive", [citations[n] for n in used], notice=notice)


def _verify(q: _Asking, grey: CachedAnswer, verifier: Verifier) -> Decimal | None:
    """Ask the verifier about a grey-zone candidate; its cost when it agrees, else None."""
    cited = {c["chunk_id"] for c in grey.citations if c.get("chunk_id")}
    texts = q.retrieved().texts
    verdict = verifier(grey.question, q.key.question, "\n".join(texts.get(c, "") for c in cited))
    cost = _record_attempts(q, verdict.attempts, purpose="verify")
    return (cost or Decimal(0)) if verdict.same else None


def _serve_hit(
    q: _Asking, found: CachedAnswer, *, notice: str | None = None, verify_cost: Decimal | None = None
) -> Answer:
    """A cached answer; after a verification it saved the answer's cost minus the verification's."""
    semantic_cache.mark_hit(q.conn, found.entry_id)
    latency = q.elapsed()
    verified = verify_cost is not None
    saved = found.cost_usd - (verify_cost or 0) if found.cost_usd is not None else None
    record_hit(
        q.conn,
        tenant=q.options.tenant,
        entry_id=found.entry_id,
        question=q.key.question,
        cached_question=found.question,
        tier=found.tier,
        similarity=found.similarity,
        tokens_saved=found.usage.total,
        cost_saved=found.cost_usd,  # gross: a verification is in the ledger as its own spend
        original_latency_ms=found.latency_ms,
        latency_ms=latency,
    )
    q.record("hit_exact" if found.tier == "exact" else "hit_semantic", model=None)
    outcome = CacheOutcome(
        True, found.tier, round(found.similarity, 4), found.entry_id, found.question, verified=verified,
        how_to_reject=reject_hint(found.entry_id),
    )  # fmt: skip
    citations = [Citation.from_json(c) for c in found.citations]
    return q.answer(found.answer, "cached", citations, cache=outcome, saved_usd=saved, notice=notice)


def _ask_llm(q: _Asking, llm: LLMClient, miss_reason: str) -> Answer:
    attempts: list[Attempt] = []
    citations = q.evidence.citations()
    messages = prompt(q.key.question, q.options.as_of, q.window, q.evidence)
    try:
        completion = llm.complete(messages, on_token=q.on_token, on_attempt=attempts.append)
    except LLMError:  # recorded, never cached
        with q.conn.transaction():
            set_tenant(q.conn, q.options.tenant)
            q.record("failed", model=llm.model, cost=_record_attempts(q, attempts))
        raise
    cited = [citations[n] for n in cited_numbers(completion.text, len(citations))]
    with q.conn.transaction():
        set_tenant(q.conn, q.options.tenant)
        cost = _record_attempts(q, attempts)
        entry_id = None
        if q.options.use_cache and completion.complete and cited:
            entry_id = semantic_cache.store(
                q.conn,
                q.key,
                q.shape(),
                answer=completion.text,
                citations=[c.as_json() for c in cited],
                usage=completion.usage,
                cost_usd=q.prices.cost(completion.model, completion.usage),
                latency_ms=q.elapsed(),
                settings=q.options.cache,
            )
        q.record("llm", model=llm.model, cost=cost)
    outcome = CacheOutcome(
        False, miss_reason=miss_reason, stored=entry_id is not None, entry_id=entry_id,
        how_to_reject=reject_hint(entry_id) if entry_id is not None else None,
    )  # fmt: skip
    return q.answer(
        completion.text, "llm", cited, cache=outcome, model=completion.model, usage=completion.usage,
        cost_usd=cost, llm_attempts=completion.attempts,
    )  # fmt: skip


def _record_attempts(q: _Asking, attempts: list[Attempt], *, purpose: str = "answer") -> Decimal | None:
    """Every attempt in the ledger; their total cost (None when a model's price is unknown)."""
    total: Decimal | None = Decimal(0)
    for a in attempts:
        cost = q.prices.cost(a.model, a.usage) if a.outcome == "ok" else Decimal(0)
        record_llm_call(
            q.conn, tenant=q.options.tenant, purpose=purpose, attempt=a, cost_usd=cost,
            question_hash=q.key.question_hash,
        )  # fmt: skip
        total = None if total is None or cost is None else total + cost
    return total
