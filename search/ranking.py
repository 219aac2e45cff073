"""The passages a user sees for a question: the retrieved pool judged (search/relevance.py), then
ordered by a weighted sum of what is known about each passage.

- meaning: the passage's cosine similarity to the question;
- words: BM25 over the question's key terms, each weighted by its rarity in the tenant's notes
  (search/coverage.py), lengths against `PASSAGE_TOKENS`; as a share of a perfect score;
- coverage: the weighted share of key terms the passage holds (headings and meeting title count),
  and the share its meeting's title alone holds (a meeting about the subject);
- a decision read from the passage: the outcome ranks above the discussion that led to it.

The weights were chosen by leave-one-corpus-out on the labelled corpora (bench/answers.py); the
reciprocal-rank fusion of search/hybrid.py only chooses the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import psycopg

from minutebook.search.coverage import KeyTerms, PassageWords, key_terms, passage_words
from minutebook.search.hybrid import RANK_CAP, SearchFilters, SearchHit, highlight, hybrid_search
from minutebook.search.relevance import judge, words_count
from minutebook.search.templates import template_chunks

RANK_POOL = 40  # passages fetched (by fused rank) to judge and order before keeping k
# The pool's signals. Spelling (trigram) only re-scores the other signals' leaders, which the
# ranking orders by its own score anyway: without it, all 256 labelled questions of the six
# corpora get the same passages (and the same verdicts), and search saves 3 ms at 100,000 passages.
POOL_SIGNALS = ("vector", "fulltext")
RANK_WEIGHTS = {"meaning": 1.0, "words": 0.1, "coverage": 0.3, "title": 0.3, "decision": 0.1}
WORDS_K1 = 1.2  # BM25 term-frequency saturation
WORDS_B = 0.75  # BM25 length normalisation
PASSAGE_TOKENS = 180  # a typical passage (the median on the labelled corpora is 140–200)


@dataclass(frozen=True)
class Judged:
    hits: list[SearchHit]
    declined: str | None  # why nothing is shown: "not in the notes: …"


def words_score(terms: KeyTerms, found: PassageWords) -> float:
    """BM25 over the key terms, as a share of what a passage using each of them once would score."""
    total = sum(terms.weights.values())
    if total <= 0:
        return 0.0
    norm = WORDS_K1 * (1 - WORDS_B + WORDS_B * found.tokens / PASSAGE_TOKENS)
    score = sum(
        weight * n * (WORDS_K1 + 1) / (n + norm)
        for lexeme, weight in terms.weights.items()
        if (n := found.counts.get(lexeme, 0))
    )
    return score / total


def passage_score(hit: SearchHit, terms: KeyTerms, found: PassageWords) -> float:
    w = RANK_WEIGHTS
    return (
        w["meaning"] * (hit.scores.get("vector") or 0.0)
        + w["words"] * words_score(terms, found)
        + w["coverage"] * found.coverage
        + w["title"] * found.title
        + w["decision"] * found.decision
    )


def judge_and_rank(
    conn: psycopg.Connection,
    hits: list[SearchHit],
    text: str,
    *,
    tenant: str,
    k: int,
    unrelated: float,
    windowed: bool = False,
) -> Judged:
    """The pool without template text, judged as a whole (is the question in the notes at all?),
    then the best `k` passages by `passage_score`."""
    template = template_chunks(conn, tenant, {h.chunk_id: h.text for h in hits})
    hits = [h for h in hits if h.chunk_id not in template]
    terms = key_terms(conn, text, tenant=tenant)
    found = passage_words(conn, terms, [h.chunk_id for h in hits], tenant=tenant)
    empty = PassageWords(0.0, 0.0, {}, PASSAGE_TOKENS, False)
    held = [found.get(h.chunk_id, empty) for h in hits]
    # the words of one passage that holds the key terms together, every word no note uses included
    # (however typed: "Okra integrtion" is in a passage saying "Okta integration")
    coverage = max(
        (w.coverage for w in held if words_count(terms, w.terms_found) and not w.unknown_missing), default=0.0
    )
    similarity = max((h.scores.get("vector") or 0.0 for h in hits), default=0.0)
    verdict = judge(terms, coverage, similarity, unrelated, windowed=windowed)
    if hits and not verdict.about:
        return Judged([], verdict.reason)
    scored = {h.chunk_id: passage_score(h, terms, found.get(h.chunk_id, empty)) for h in hits}
    ranked = sorted(hits, key=lambda h: -scored[h.chunk_id])[:k]
    return Judged(
        [
            replace(
                h,
                rank=i,
                highlighted=highlight(h.text, text),
                scores={
                    **h.scores,
                    "coverage": round(found.get(h.chunk_id, empty).coverage, 3),
                    "score": round(scored[h.chunk_id], 4),
                },
            )
            for i, h in enumerate(ranked, 1)
        ],
        None,
    )


def search_judged(
    conn: psycopg.Connection,
    embedding: np.ndarray,
    text: str,
    *,
    tenant: str,
    k: int,
    unrelated: float,
    filters: SearchFilters | None = None,
    windowed: bool = False,
    rank_cap: int = RANK_CAP,
) -> tuple[list[SearchHit], Judged]:
    """Search as search, who-owns and ask run it: the hybrid pool, judged and ranked by the
    question's key terms. The pool is returned too, its words unmarked."""
    pool = hybrid_search(
        conn, embedding, text, tenant=tenant, filters=filters, k=max(k, RANK_POOL), signals=POOL_SIGNALS,
        rank_cap=rank_cap, marked=False,
    )  # fmt: skip
    judged = judge_and_rank(conn, pool, text, tenant=tenant, k=k, unrelated=unrelated, windowed=windowed)
    return pool, judged
