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
from dataclasses import dataclass, field

import psycopg

from minutebook.ingest.grammar.questions import SCAFFOLDING, acronyms, same_word

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
DF_CAP = 1000  # beyond this many passages a word says nothing about a subject


TYPO_SIMILARITY = 0.75  # a word the notes never use but spell this closely is a typo of theirs


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

    def covered(self, present: set[str], text: str = "") -> set[str]:
        """The key terms a passage holds: the lexemes `present` (found by the full-text index), an
        unknown term that is a word of `text` however typed (`same_word`: a typo, a prefix), and
        the words of an acronym found (written in capitals in `text`, when given)."""
        covered = set(present)
        if text and (missing := [u for u in self.unknown if u not in present]):
            seen = set(re.findall(r"[A-Za-z][A-Za-z0-9]+", text))  # as written: an acronym is no typo
            covered.update(u for u in missing if any(same_word(self.written.get(u, u), w) for w in seen))
        for acronym, spelled_out in self.acronyms.items():
            # written in capitals: "PR" is "pull request", but "ok" is not "onto Kubernetes"
            if acronym in present and (not text or re.search(rf"\b{re.escape(acronym.upper())}s?\b", text)):
                covered.update(spelled_out)
        return covered & set(self.weights)

    def share(self, present: set[str], text: str = "") -> float:
        """The weighted share of the key terms a passage holds (`covered`)."""
        return self.share_of(self.covered(present, text))

    def share_of(self, covered: set[str]) -> float:
        """The weighted share of the key terms that `covered` (from `covered`) holds."""
        total = sum(self.weights.values())
        if total <= 0:
            return 1.0
        return sum(w for lex, w in self.weights.items() if lex in covered) / total


_TERMS_SQL = """
WITH scaffolding AS (
    SELECT lexeme FROM unnest(to_tsvector('english', %(scaffolding)s)) AS s(lexeme, positions, weights)
), tokens AS (
    SELECT n, token, lexemes[1] AS lexeme FROM ts_debug('english', %(text)s) WITH ORDINALITY AS d(
        alias, description, token, dictionaries, dictionary, lexemes, n)
    -- a hyphenated word is one term ("short-lived"), not also its parts
    WHERE alias NOT IN ('blank', 'hword_asciipart', 'hword_part', 'hword_numpart')
), words AS (
    SELECT min(n) AS n, lexeme, min(token) AS token, array_agg(lower(token)) AS spellings FROM tokens
    WHERE lexeme IS NOT NULL AND lexeme NOT IN (SELECT lexeme FROM scaffolding)
    GROUP BY lexeme
), counted AS MATERIALIZED (
    SELECT w.n, w.lexeme, w.token, w.spellings,
           -- passages holding the word, up to the cap (sql/024: a sum over an index)
           (SELECT least(coalesce(sum(t.passages), 0), %(cap)s) FROM note_terms t
            WHERE t.tenant_id = %(tenant)s AND t.lexeme = w.lexeme) AS df
    FROM words w
)
-- the trigram look-up for typos, in the notes' vocabulary (sql/024), only for words no passage uses
SELECT n, lexeme, token, spellings, df,
       CASE WHEN df = 0 THEN EXISTS (SELECT 1 FROM note_words v WHERE v.tenant_id = %(tenant)s
                                       AND lower(token) <%% v.word
                                       AND word_similarity(lower(token), v.word) >= %(typo)s)
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


@dataclass(frozen=True)
class PassageWords:
    coverage: float  # weighted share of the key terms (its headings and meeting title count)
    title: float  # the share its meeting's title alone covers (a meeting about the subject)
    counts: dict[str, int]  # key term → how often the passage uses it
    tokens: int  # the passage's length
    decision: bool  # a decision was read from it
    terms_found: int = 0  # how many of the key terms it holds
    unknown_missing: bool = False  # a key term no note uses is not in it, however typed


def passage_words(
    conn: psycopg.Connection, terms: KeyTerms, chunk_ids: list[int], *, tenant: str
) -> dict[int, PassageWords]:
    """What each passage holds of the question's key terms, in one round trip."""
    if not chunk_ids:
        return {}
    # one pass over each passage's words gives what it holds and how often; the title's words once
    # (testing each term against `tsv || title` rebuilt the passage's words per term: half the query)
    rows = conn.execute(
        """SELECT c.id, held.counts, titled.lexemes,
                  concat_ws(' ', m.title, array_to_string(c.section_path, ' '), c.text), m.title, c.token_count,
                  EXISTS (SELECT 1 FROM items i WHERE i.tenant_id = %(tenant)s AND i.meeting_id = c.meeting_id
                                                  AND i.chunk_id = c.id AND i.kind = 'decision')
           FROM chunks c JOIN meetings m ON m.tenant_id = c.tenant_id AND m.id = c.meeting_id,
           LATERAL (SELECT coalesce(json_object_agg(u.lexeme, cardinality(u.positions)), '{}') AS counts
                    FROM unnest(c.tsv) AS u WHERE u.lexeme = ANY(%(lex)s)) held,
           LATERAL (SELECT coalesce(array_agg(u.lexeme), '{}') AS lexemes
                    FROM unnest(to_tsvector('english', m.title)) AS u WHERE u.lexeme = ANY(%(lex)s)) titled
           WHERE c.tenant_id = %(tenant)s AND c.id = ANY(%(ids)s)""",
        {"lex": terms.lexemes, "ids": chunk_ids, "tenant": tenant},
    ).fetchall()
    found: dict[int, PassageWords] = {}
    for chunk_id, counts, titled, text, title, tokens, decision in rows:
        present = {*counts, *titled}
        held = terms.covered(present, text)  # once: on a long passage it reads every word
        shares = (1.0, 0.0) if terms.empty else (terms.share_of(held), terms.share(set(titled), title))
        found[chunk_id] = PassageWords(
            *shares, dict(counts), int(tokens), bool(decision), len(held), bool(terms.unknown - held)
        )
    return found


def item_coverage(conn: psycopg.Connection, terms: KeyTerms, item_ids: list[int], *, tenant: str) -> dict[int, float]:
    """Each item's weighted share of the key terms, counting what it sits under (its context) and
    its meeting's title, as a passage's coverage counts its headings and title: "who sets the agenda
    after the npm-on-ipfs session" names the meeting ("npm-on-ipfs") as well as the work."""
    if terms.empty or not item_ids:
        return {i: 1.0 for i in item_ids}
    rows = conn.execute(
        """SELECT i.id, array_agg(t.lex) FILTER (WHERE (i.tsv || to_tsvector('english', m.title))
                                                        @@ to_tsquery('simple', quote_literal(t.lex))),
                  min(i.text || ' ' || i.context || ' ' || m.title)
           FROM items i JOIN meetings m ON m.tenant_id = i.tenant_id AND m.id = i.meeting_id
             CROSS JOIN unnest(%s::text[]) AS t(lex)
           WHERE i.tenant_id = %s AND i.id = ANY(%s) GROUP BY i.id""",
        (terms.lexemes, tenant, item_ids),
    ).fetchall()
    found = {r[0]: (set(r[1] or []), r[2]) for r in rows}
    return {i: terms.share(*found.get(i, (set(), ""))) for i in item_ids}
