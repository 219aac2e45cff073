"""Does a passage (or an item) actually cover what the question asks about?

A similarity score says a passage is the nearest thing there is, not that it is about the
question: "what did we decide about guaranteed tail calls?" has a nearest passage in any corpus.
So each question is reduced to its key terms (its words without the stop words and question
scaffolding of ingest/grammar/questions.py, stemmed the way the full-text index stems them), each
weighted by how rare it is in the tenant's notes (a word no note uses weighs most), and a passage's
coverage is the weighted share of those terms it contains. A word no note contains but one spells
closely ("integrtion") is a typo, not an absent subject: it is left out rather than counted missing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import psycopg

from minutebook.ingest.grammar.questions import SCAFFOLDING, acronyms, same_word
from minutebook.search.hybrid import SearchHit
from minutebook.search.templates import template_chunks

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
DF_CAP = 1000  # beyond this many passages a word says nothing about a subject


TYPO_SIMILARITY = 0.75  # a word the notes never use but spell this closely is a typo of theirs
DECLINE_BELOW = 0.35  # weighted share of the key terms the best passage must cover
DECLINE_UNKNOWN_BELOW = 0.6  # …or this much, when a key term is a word no note uses at all
COVERAGE_FLOOR = 0.5  # in ranking, a passage covering nothing keeps a third of a full one's weight
TITLE_WEIGHT = 0.5  # in ranking, a passage of a meeting whose title names the subject counts this much more


@dataclass(frozen=True)
class KeyTerms:
    weights: dict[str, float]  # lexeme → weight (rarer words weigh more)
    unknown: frozenset[str] = frozenset()  # key terms no note of the tenant uses
    written: dict[str, str] = field(default_factory=dict)  # lexeme → the word as typed (its case kept)
    acronyms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "mvp" → (minimum, viabl, product)

    @property
    def empty(self) -> bool:
        return not self.weights

    @property
    def lexemes(self) -> list[str]:
        return [*self.weights, *self.acronyms]

    def share(self, present: set[str], text: str = "") -> float:
        """The weighted share of the terms `present` (lexemes found) covers; an unknown term that
        is a word of `text` however typed (`same_word`: a typo, a prefix) counts."""
        total = sum(self.weights.values())
        if total <= 0:
            return 1.0
        covered = set(present)
        if text and (missing := [u for u in self.unknown if u not in present]):
            seen = set(re.findall(r"[A-Za-z][A-Za-z0-9]+", text))  # as written: an acronym is no typo
            covered.update(u for u in missing if any(same_word(self.written.get(u, u), w) for w in seen))
        for acronym, spelled_out in self.acronyms.items():
            if acronym in present:
                covered.update(spelled_out)
        return sum(w for lex, w in self.weights.items() if lex in covered) / total

    def covers(self, best: float) -> bool:
        """Whether a passage covering `best` of the terms is about the question at all."""
        if self.empty:
            return True
        return best >= (DECLINE_UNKNOWN_BELOW if self.unknown else DECLINE_BELOW)


_TERMS_SQL = """
WITH scaffolding AS (
    SELECT lexeme FROM unnest(to_tsvector('english', %(scaffolding)s)) AS s(lexeme, positions, weights)
), tokens AS (
    SELECT n, token, lexemes[1] AS lexeme FROM ts_debug('english', %(text)s) WITH ORDINALITY AS d(
        alias, description, token, dictionaries, dictionary, lexemes, n)
    WHERE alias NOT IN ('blank')
), words AS (
    SELECT min(n) AS n, lexeme, min(token) AS token, array_agg(lower(token)) AS spellings FROM tokens
    WHERE lexeme IS NOT NULL AND lexeme NOT IN (SELECT lexeme FROM scaffolding)
    GROUP BY lexeme
), counted AS MATERIALIZED (
    SELECT w.n, w.lexeme, w.token, w.spellings,
           (SELECT count(*) FROM (SELECT 1 FROM chunks c
                                  WHERE c.tenant_id = %(tenant)s
                                    AND c.tsv @@ to_tsquery('simple', quote_literal(w.lexeme))
                                  LIMIT %(cap)s) s) AS df
    FROM words w
)
-- the trigram look-up for typos only for words no passage uses: it is the costly one
SELECT n, lexeme, token, spellings, df,
       CASE WHEN df = 0 THEN EXISTS (SELECT 1 FROM chunks c WHERE c.tenant_id = %(tenant)s
                                       AND lower(token) <%% c.text
                                       AND word_similarity(lower(token), c.text) >= %(typo)s)
            ELSE false END AS spelled
FROM counted ORDER BY n
"""


def key_terms(conn: psycopg.Connection, text: str, *, tenant: str) -> KeyTerms:
    """The question's key terms and their weights in this tenant's notes."""
    params = {
        "text": text,
        "scaffolding": " ".join(sorted(SCAFFOLDING)),
        "tenant": tenant,
        "cap": DF_CAP,
        "typo": TYPO_SIMILARITY,
    }
    rows = conn.execute(_TERMS_SQL, params).fetchall()
    weights: dict[str, float] = {}
    unknown: set[str] = set()
    written: dict[str, str] = {}
    for _, lexeme, token, _, df, spelled in rows:
        if df == 0 and spelled:
            continue  # a typo of a word the notes use: not evidence either way
        weights[lexeme] = math.log((DF_CAP + 1) / (df + 1)) + 0.5
        written[lexeme] = token  # said back as typed: "outage", not the stem "outag"
        if df == 0:
            unknown.add(lexeme)
    lexeme_of = {spelling: lex for _, lex, _, spellings, _, _ in rows if lex in weights for spelling in spellings}
    return KeyTerms(weights, frozenset(unknown), written, _spelled_out(text, lexeme_of))


def _spelled_out(text: str, lexeme_of: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """The acronyms the question spells out (`acronyms`) → the key terms of each: "minimum viable
    product" may be written "MVP" in the notes."""
    words = _WORD.findall(text)
    found: dict[str, tuple[str, ...]] = {}
    for acronym, (start, end) in acronyms(words).items():
        spelled = tuple(dict.fromkeys(lex for w in words[start:end] if (lex := lexeme_of.get(w.lower()))))
        if spelled:
            found[acronym] = spelled
    return found


def chunk_coverage(conn: psycopg.Connection, terms: KeyTerms, chunk_ids: list[int]) -> dict[int, tuple[float, float]]:
    """Each passage's weighted share of the key terms (its section headings and meeting title
    count), and the share its meeting's title alone covers (a meeting about the subject)."""
    if terms.empty or not chunk_ids:
        return {c: (1.0, 0.0) for c in chunk_ids}
    rows = conn.execute(
        """SELECT c.id, array_agg(t.lex) FILTER (WHERE (c.tsv || to_tsvector('english', m.title))
                                                        @@ to_tsquery('simple', quote_literal(t.lex))),
                  array_agg(t.lex) FILTER (WHERE to_tsvector('english', m.title)
                                                 @@ to_tsquery('simple', quote_literal(t.lex))),
                  min(m.title || ' ' || c.text), min(m.title)
           FROM chunks c JOIN meetings m ON m.id = c.meeting_id CROSS JOIN unnest(%s::text[]) AS t(lex)
           WHERE c.id = ANY(%s) GROUP BY c.id""",
        (terms.lexemes, chunk_ids),
    ).fetchall()
    found = {
        r[0]: (
            terms.share(set(r[1] or []), r[3] if terms.unknown else ""),
            terms.share(set(r[2] or []), r[4] if terms.unknown else ""),
        )
        for r in rows
    }
    return {c: found.get(c, (0.0, 0.0)) for c in chunk_ids}


def item_coverage(conn: psycopg.Connection, terms: KeyTerms, item_ids: list[int]) -> dict[int, float]:
    """Each item's weighted share of the key terms, counting what it sits under (its context) and
    its meeting's title, as a passage's coverage counts its headings and title: "who sets the agenda
    after the npm-on-ipfs session" names the meeting ("npm-on-ipfs") as well as the work."""
    if terms.empty or not item_ids:
        return {i: 1.0 for i in item_ids}
    rows = conn.execute(
        """SELECT i.id, array_agg(t.lex) FILTER (WHERE (i.tsv || to_tsvector('english', m.title))
                                                        @@ to_tsquery('simple', quote_literal(t.lex))),
                  min(i.text || ' ' || i.context || ' ' || m.title)
           FROM items i JOIN meetings m ON m.id = i.meeting_id CROSS JOIN unnest(%s::text[]) AS t(lex)
           WHERE i.id = ANY(%s) GROUP BY i.id""",
        (terms.lexemes, item_ids),
    ).fetchall()
    found = {r[0]: (set(r[1] or []), r[2] if terms.unknown else "") for r in rows}
    return {i: terms.share(*found.get(i, (set(), ""))) for i in item_ids}


@dataclass(frozen=True)
class Judged:
    hits: list[SearchHit]
    declined: str | None  # why nothing is shown: "not in the notes: …"


def judge_hits(
    conn: psycopg.Connection, hits: list[SearchHit], text: str, *, tenant: str, k: int, windowed: bool = False
) -> Judged:
    """Passages ordered by how much of the question they cover (then by fused rank), template text
    left out; none at all
    when even the best covers too little of it to be about it, unless the question names a time
    window ("what did we review in 2022?": the window is the subject, whatever it holds answers)."""
    template = template_chunks(conn, tenant, {h.chunk_id: h.text for h in hits})
    hits = [h for h in hits if h.chunk_id not in template]
    terms = key_terms(conn, text, tenant=tenant)
    shares = chunk_coverage(conn, terms, [h.chunk_id for h in hits])
    coverage = {c: share for c, (share, _) in shares.items()}
    titled = {c: title for c, (_, title) in shares.items()}
    best = max(coverage.values(), default=0.0)
    if hits and not windowed and not terms.covers(best):
        missing = sorted(terms.weights, key=lambda t: -terms.weights[t])[:3]
        said = ", ".join(terms.written.get(t, t) for t in missing)
        return Judged([], f"not in the notes: no passage is about {said}")
    ranked = sorted(
        hits,
        key=lambda h: -h.fused * (COVERAGE_FLOOR + coverage[h.chunk_id]) * (1 + TITLE_WEIGHT * titled[h.chunk_id]),
    )[:k]
    return Judged(
        [
            replace(h, rank=i, scores={**h.scores, "coverage": round(coverage[h.chunk_id], 3)})
            for i, h in enumerate(ranked, 1)
        ],
        None,
    )
