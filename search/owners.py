""" "Who owns X?" and "what is Mike on the hook for?", answered from extracted items, no LLM.

A topic is matched against item text by meaning (HNSW over item embeddings), by words
(full-text) and by spelling (trigram), fused by reciprocal rank; one round trip. When an item
was reassigned in a later meeting, the latest assignment wins and the earlier ones are history.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.ingest.grammar.questions import TOPIC_WRAPPERS
from minutebook.search.coverage import KeyTerms, item_coverage, key_terms
from minutebook.search.hybrid import query_words
from minutebook.search.people_match import PERSON_MATCH
from minutebook.search.ranking import search_judged
from minutebook.search.relevance import ITEM_SPELLING, item_about, unrelated_similarity
from minutebook.search.templates import template_fingerprints

SAME_THREAD_SIMILARITY = 0.82  # two items in different meetings about the same work
RRF_K = 60
OWNED_WEIGHT = 1.15  # "who owns" asks about assigned work: an owned item's score counts this much more
COVERAGE_FLOOR = 0.5  # in ranking items, one covering none of the key terms keeps a third of a full one's weight


STILL_OPEN = ("open", "in_progress")  # the statuses an item can be late in

# An item's owner status, as every surface says it: an unowned item whose line names people is
# "owner unclear (names: …)", never "unassigned" beside a name.
OWNED, OWNER_UNCLEAR, UNASSIGNED = "owned", "owner unclear", "unassigned"


def question_topic(searched: str) -> str:
    """What items are matched on: "who owns the read replicas" → "read replicas"."""
    return " ".join(w for w in query_words(searched) if w not in TOPIC_WRAPPERS) or searched


@dataclass(frozen=True)
class Owner:
    name: str
    kind: str
    role: str | None
    written_as: str
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ItemView:
    id: int
    kind: str
    text: str
    detail: str
    owners: list[Owner]
    owner_text: str | None
    status: str
    status_text: str | None
    due_start: date | None
    due_date: date | None
    due_text: str | None
    meeting_id: int
    meeting_title: str
    meeting_date: date | None
    source: str
    source_line: int  # 1-based
    evidence: str
    chunk_id: int | None
    spoken_at: float | None = None  # transcripts: seconds into the recording
    context: str = ""  # the agenda item or section the item sits under
    score: float = 0.0
    similarity: float = 0.0
    mentioned: list[str] = field(default_factory=list)  # named on an unowned item's line, not read as its owner
    page: int | None = None  # notes with pages (a PDF): the page of its line
    # owned | owner unclear | unassigned: derived from the two above, a field so that JSON carries it
    owner_status: str = field(init=False, default=UNASSIGNED)

    def __post_init__(self) -> None:
        status = OWNED if self.owners else OWNER_UNCLEAR if self.mentioned else UNASSIGNED
        object.__setattr__(self, "owner_status", status)

    @property
    def owner_names(self) -> str:
        if self.owners:
            return " + ".join(o.name for o in self.owners)
        if self.mentioned:
            return f"{OWNER_UNCLEAR} (names: {', '.join(self.mentioned)})"
        return UNASSIGNED

    def overdue(self, today: date) -> bool:
        """Due before `today` and not yet done, decided or dropped."""
        return self.due_date is not None and self.due_date < today and self.status in STILL_OPEN


@dataclass(frozen=True)
class OwnerAnswer:
    topic: str
    item: ItemView | None
    history: list[ItemView]  # earlier assignments of the same work, oldest first
    alternatives: list[ItemView]  # other good matches
    declined: str | None = None  # the relevance judge's reason when the topic is not in the notes

    @property
    def found(self) -> bool:
        return self.item is not None


# The tenant as a value in subqueries: Citus routes to one shard only so (search/meetings.py _SUMMARY).
_ITEM_COLUMNS = """
    i.id, i.kind, i.text, i.detail, i.owner_text, i.status, i.status_text, i.due_start, i.due_date,
    i.due_text, i.meeting_id, m.title AS meeting_title, m.date_start AS meeting_date, m.source,
    i.source_line, i.evidence, i.chunk_id, i.spoken_at, i.context, i.line_fingerprint, i.mentioned, i.page,
    COALESCE((SELECT json_agg(json_build_object('name', p.name, 'kind', p.kind, 'role', p.role,
                                                'written_as', o.written_as, 'aliases', p.aliases)
                              ORDER BY o.position)
              FROM item_owners o JOIN people p ON p.tenant_id = o.tenant_id AND p.id = o.person_id
              WHERE o.tenant_id = %(tenant)s AND o.item_id = i.id), '[]') AS owners
"""

# Candidates come from the HNSW index and the full-text index (all words); spelling re-scores
# them. A topic that finds nothing that way (typos) goes to the trigram index instead.
_MATCH_SQL = f"""
WITH vec AS (
    SELECT id, row_number() OVER () AS r FROM (
        SELECT id FROM items WHERE tenant_id = %(tenant)s
        ORDER BY embedding <=> %(q)s LIMIT %(pool)s) v
), fts AS (
    SELECT id, row_number() OVER (ORDER BY rank DESC) AS r FROM (
        SELECT id, ts_rank(tsv, query) AS rank
        FROM items, websearch_to_tsquery('english', %(topic)s) AS query
        WHERE tenant_id = %(tenant)s AND tsv @@ query
        ORDER BY rank DESC LIMIT %(pool)s) f
), anyterm AS (
    -- items holding any key term, the rarest first: the work may be written in other words than
    -- the question's ("write RN and blogpost" for "writing the release notes and blog post")
    SELECT id, row_number() OVER (ORDER BY rank DESC) AS r FROM (
        SELECT id, ts_rank(tsv, query) AS rank
        FROM items, to_tsquery('simple', %(any_terms)s) AS query
        WHERE tenant_id = %(tenant)s AND %(any_terms)s <> '' AND tsv @@ query
        ORDER BY rank DESC LIMIT %(pool)s) a
), {{spelling_source}}, spelled AS (
    SELECT c.id, word_similarity(%(topic)s, i.text) AS ws,
           row_number() OVER (ORDER BY word_similarity(%(topic)s, i.text) DESC) AS r
    FROM candidates c JOIN items i ON i.tenant_id = %(tenant)s AND i.id = c.id
), fused AS (
    SELECT id, sum(1.0 / ({RRF_K} + r)) AS score
    FROM (SELECT id, r FROM vec UNION ALL SELECT id, r FROM fts UNION ALL SELECT id, r FROM anyterm
          UNION ALL SELECT id, r FROM spelled WHERE ws >= 0.3) s
    GROUP BY id
)
SELECT {_ITEM_COLUMNS}, f.score,
       1 - (i.embedding <=> %(q)s) AS similarity,
       (i.id IN (SELECT id FROM fts)) AS all_words_hit,
       (SELECT ws FROM spelled WHERE spelled.id = i.id) AS spelling
FROM fused f JOIN items i ON i.tenant_id = %(tenant)s AND i.id = f.id
JOIN meetings m ON m.tenant_id = i.tenant_id AND m.id = i.meeting_id
ORDER BY f.score DESC
LIMIT %(k)s
"""
_FROM_CANDIDATES = "candidates AS (SELECT id FROM vec UNION SELECT id FROM fts UNION SELECT id FROM anyterm)"
_FROM_TRIGRAM_INDEX = """candidates AS (
    SELECT id FROM items WHERE tenant_id = %(tenant)s AND %(topic)s <%% text
    ORDER BY word_similarity(%(topic)s, text) DESC LIMIT %(pool)s)"""
_MATCH_BY_MEANING = _MATCH_SQL.format(spelling_source=_FROM_CANDIDATES)
_MATCH_BY_SPELLING = _MATCH_SQL.format(spelling_source=_FROM_TRIGRAM_INDEX)

_THREAD_SQL = f"""
SELECT {_ITEM_COLUMNS}, 0.0 AS score, 1 - (i.embedding <=> t.embedding) AS similarity
FROM items t JOIN items i ON i.tenant_id = t.tenant_id AND i.id <> t.id
JOIN meetings m ON m.tenant_id = i.tenant_id AND m.id = i.meeting_id
WHERE t.tenant_id = %(tenant)s AND t.id = %(item)s AND i.kind = t.kind AND i.meeting_id <> t.meeting_id
  AND (1 - (i.embedding <=> t.embedding) >= %(threshold)s
       OR similarity(i.text, t.text) >= 0.6)
  -- the same words under another agenda item ("leave a comment") are other work
  AND (t.context = '' OR i.context = ''
       OR similarity(split_part(i.context, ' › ', -1), split_part(t.context, ' › ', -1)) >= 0.3)
ORDER BY m.date_start NULLS FIRST, i.id
"""


def _view(row: dict[str, Any]) -> ItemView:
    owners = [Owner(o["name"], o["kind"], o["role"], o["written_as"], o["aliases"] or []) for o in row["owners"]]
    return ItemView(
        id=row["id"],
        kind=row["kind"],
        text=row["text"],
        detail=row["detail"],
        owners=owners,
        owner_text=row["owner_text"],
        status=row["status"],
        status_text=row["status_text"],
        due_start=row["due_start"],
        due_date=row["due_date"],
        due_text=row["due_text"],
        meeting_id=row["meeting_id"],
        meeting_title=row["meeting_title"],
        meeting_date=row["meeting_date"],
        source=row["source"],
        source_line=row["source_line"] + 1,  # 1-based, as every output shows lines
        evidence=row["evidence"],
        chunk_id=row["chunk_id"],
        spoken_at=row["spoken_at"],
        context=row["context"],
        score=float(row["score"]),
        similarity=float(row["similarity"]),
        mentioned=[] if owners else list(row["mentioned"]),  # an owner written: no one else is "unclear"
        page=row["page"],
    )


def _any_of(terms: KeyTerms) -> str:
    """A tsquery matching any key term (lexemes as the full-text index stems them)."""
    return " | ".join("'" + lex.replace("'", "''") + "'" for lex in terms.lexemes)


def _final_score(row: dict[str, Any]) -> float:
    """Fused rank, nudged towards owned items ("who owns" asks about assigned work) and towards
    items whose wording is the topic's own (an exact phrase beats a paraphrase)."""
    owned = OWNED_WEIGHT if row["owners"] else 1.0
    covered = COVERAGE_FLOOR + float(row.get("coverage", 1.0))
    return float(row["score"]) * owned * covered + 0.015 * float(row["spelling"] or 0) + 0.01 * float(row["similarity"])


def _not_template(conn: psycopg.Connection, tenant: str, rows: list[dict]) -> list[dict]:
    """Items read from a template's lines (a checklist every agenda repeats) are not work anyone owns."""
    template = template_fingerprints(conn, tenant, [r["line_fingerprint"] for r in rows if r["line_fingerprint"]])
    return [r for r in rows if r["line_fingerprint"] not in template]


def _relevant_rows(conn: psycopg.Connection, embedding: np.ndarray, topic: str, *, tenant: str, k: int) -> list[dict]:
    """Items about `topic`: near in meaning or words *and* covering its key terms (in the item or
    the agenda item it sits under); failing that, items that spell its words (typos)."""
    terms = key_terms(conn, topic, tenant=tenant)
    params = {
        "q": embedding,
        "tenant": tenant,
        "topic": topic,
        "any_terms": _any_of(terms),
        "pool": max(20, k * 4),
        "k": k * 3,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        rows = _not_template(conn, tenant, cur.execute(_MATCH_BY_MEANING, params).fetchall())
        coverage = item_coverage(conn, terms, [r["id"] for r in rows], tenant=tenant)
        matches = [
            {**r, "coverage": coverage[r["id"]]}
            for r in rows
            if item_about(
                float(r["similarity"]),
                coverage[r["id"]],
                all_words=bool(r["all_words_hit"]),
                spelling=float(r["spelling"] or 0),
                terms=terms,
            )
        ]
        if not matches:  # perhaps misspelt: look the words up by their trigrams
            rows = _not_template(conn, tenant, cur.execute(_MATCH_BY_SPELLING, params).fetchall())
            matches = [{**r, "coverage": 1.0} for r in rows if float(r["spelling"] or 0) >= ITEM_SPELLING]
    return matches


def match_items(
    conn: psycopg.Connection, embedding: np.ndarray, topic: str, *, tenant: str, k: int = 10
) -> list[ItemView]:
    """Items about `topic`, best first; empty when nothing is about it."""
    rows = sorted(_relevant_rows(conn, embedding, topic, tenant=tenant, k=k), key=_final_score, reverse=True)
    return [_view(r) for r in rows[:k]]


def who_owns(
    conn: psycopg.Connection,
    embedding: np.ndarray,
    topic: str,
    *,
    tenant: str,
    unrelated: float,
    k: int = 5,
    asked: tuple[str, np.ndarray] | None = None,
) -> OwnerAnswer:
    """The owner of the work best matching `topic`, when the relevance judge finds the question
    (`asked`: as the user wrote it, with its embedding; else the topic) in the notes at all: the
    same judge, on the same text and embedding, as search and ask; `unrelated` the tenant's bar."""
    said, said_embedding = asked or (topic, embedding)
    _, judged = search_judged(conn, said_embedding, said, tenant=tenant, k=1, unrelated=unrelated)
    if judged.declined:
        return OwnerAnswer(topic, None, [], [], judged.declined)
    matches = _relevant_rows(conn, embedding, topic, tenant=tenant, k=k)
    if not matches:
        return OwnerAnswer(topic, None, [], [])
    best = max(matches[:5], key=_final_score)
    top = _view(best)
    thread = item_thread(conn, top.id, tenant=tenant)
    assignments = sorted([top, *thread], key=lambda v: (v.meeting_date or date.min, v.id))
    owned = [v for v in assignments if v.owners] or assignments
    latest = owned[-1]
    history = [v for v in assignments if v.id != latest.id]
    alternatives = [_view(r) for r in matches if r["id"] not in {v.id for v in assignments}][: k - 1]
    return OwnerAnswer(topic, latest, history, alternatives)


def item_thread(conn: psycopg.Connection, item_id: int, *, tenant: str) -> list[ItemView]:
    """The same piece of work recorded in other meetings (by meaning or near-identical text)."""
    with conn.cursor(row_factory=dict_row) as cur:
        params = {"tenant": tenant, "item": item_id, "threshold": SAME_THREAD_SIMILARITY}
        rows = cur.execute(_THREAD_SQL, params).fetchall()
    return [_view(r) for r in rows]


def list_items(
    conn: psycopg.Connection,
    *,
    tenant: str,
    owner: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    due_before: date | None = None,
    meeting_id: int | None = None,
    unowned: bool = False,
    limit: int = 200,
) -> list[ItemView]:
    """Items filtered by owner (name, alias or first name), status, kind, due date, meeting, or
    having no owner (`unowned`, "owner unclear" ones included: the gaps a user may want to fill)."""
    conditions = ["i.tenant_id = %(tenant)s"]
    if owner:
        conditions.append(
            f"""EXISTS (SELECT 1 FROM item_owners o JOIN people p ON p.tenant_id = o.tenant_id AND p.id = o.person_id
                        WHERE o.tenant_id = %(tenant)s AND o.item_id = i.id
                          AND ({PERSON_MATCH} OR lower(o.written_as) = lower(%(person)s)))"""
        )
    if unowned:
        conditions.append(
            "NOT EXISTS (SELECT 1 FROM item_owners o WHERE o.tenant_id = %(tenant)s AND o.item_id = i.id)"
        )
    if status:
        conditions.append("i.status = %(status)s")
    if kind:
        conditions.append("i.kind = %(kind)s")
    if due_before:
        conditions.append("i.due_date <= %(due_before)s")
    if meeting_id:
        conditions.append("i.meeting_id = %(meeting_id)s")
    query = f"""SELECT {_ITEM_COLUMNS}, 0.0 AS score, 0.0 AS similarity
                FROM items i JOIN meetings m ON m.tenant_id = i.tenant_id AND m.id = i.meeting_id
                WHERE {" AND ".join(conditions)}
                ORDER BY i.due_date NULLS LAST, m.date_start DESC NULLS LAST, i.ordinal
                LIMIT %(limit)s"""
    params = {
        "tenant": tenant,
        "person": owner,
        "status": status,
        "kind": kind,
        "due_before": due_before,
        "meeting_id": meeting_id,
        "limit": limit,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return [_view(r) for r in cur.execute(query, params).fetchall()]


def owner_of(pool: ConnectionPool, embedder: Embedder, topic: str, *, tenant: str, k: int = 5) -> OwnerAnswer:
    """ "Who owns X" as every entry point asks it: the question and its topic embedded in one batch,
    one transaction."""
    matched = question_topic(topic)  # "who is writing the release notes" → "writing release notes"
    asked, embedding = embedder.encode_queries([topic, matched])
    with tenant_transaction(pool, tenant) as conn:
        unrelated = unrelated_similarity(conn, embedder, tenant=tenant)
        found = who_owns(conn, embedding, matched, tenant=tenant, unrelated=unrelated, k=k, asked=(topic, asked))
    return replace(found, topic=topic)  # said back as the user wrote it
