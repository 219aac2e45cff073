"""Hybrid retrieval over chunks: meaning (pgvector HNSW), words (full-text) and spelling (trigram),
fused by reciprocal rank in one round trip, within date / meeting / person / item-kind filters.

Vector and full-text each bring their best candidates (filters applied inside the index scans;
pgvector's iterative scan keeps filtered queries returning enough rows); trigram similarity
re-scores those candidates. Which signals take part is a parameter, so a benchmark can measure
each one alone in the same run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row

from minutebook.core.dates import describe_date
from minutebook.ingest.grammar.questions import SEARCH_STOP_WORDS, word_root
from minutebook.search.coverage import DF_CAP
from minutebook.search.people_match import PERSON_MATCH

RRF_K = 60
COMMON_SHARE = 0.05  # a word in more than this share of passages is left to the vector signal
MAX_WORDS = 4  # full-text matches on the rarest words of the question only: fast at any corpus size
SPELL_POOL = 8  # trigram re-scores this many leaders of each other signal
RANK_CAP = 200  # passages ranked by full-text at most, per word
SIGNALS = ("vector", "fulltext", "trigram")
WEIGHTS = {"vector": 1.0, "fulltext": 1.0, "trigram": 1.0}  # each signal's share of the fused score


@dataclass(frozen=True)
class SearchFilters:
    since: date | None = None
    until: date | None = None
    meeting_id: int | None = None
    person: str | None = None
    kind: str | None = None  # chunks that hold an item of this kind

    def sql(self) -> str:
        parts = []
        if self.since:
            parts.append("COALESCE(c.section_date_end, c.section_date) >= %(since)s")
        if self.until:
            parts.append("c.section_date <= %(until)s")
        if self.meeting_id:
            parts.append("c.meeting_id = %(meeting_id)s")
        if self.person:
            parts.append(
                f"""c.meeting_id = ANY(ARRAY(
                       SELECT a.meeting_id FROM meeting_attendees a JOIN people p ON p.tenant_id = a.tenant_id
                         AND p.id = a.person_id
                       WHERE p.tenant_id = %(tenant)s AND {PERSON_MATCH}
                       UNION
                       SELECT i.meeting_id FROM items i JOIN item_owners o ON o.tenant_id = i.tenant_id
                         AND o.tenant_id = i.tenant_id AND o.item_id = i.id
                       JOIN people p ON p.tenant_id = o.tenant_id AND p.id = o.person_id
                       WHERE p.tenant_id = %(tenant)s AND {PERSON_MATCH}))"""
            )
        if self.kind:
            parts.append(
                "EXISTS (SELECT 1 FROM items i"
                " WHERE i.tenant_id = %(tenant)s AND i.chunk_id = c.id AND i.kind = %(kind)s)"
            )
        return "".join(f" AND {p}" for p in parts)

    def params(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "meeting_id": self.meeting_id,
            "person": self.person,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class SearchHit:
    rank: int
    chunk_id: int
    meeting_id: int
    meeting_title: str
    meeting_date: date | None
    source: str
    section_path: list[str]
    section_date: date | None
    text: str
    highlighted: str  # the text with the question's words marked (the judged pool: unmarked until ranked)
    line_start: int  # 1-based
    line_end: int
    content_hash: str
    fused: float
    speakers: list[str] = field(default_factory=list)  # transcripts: who speaks in the passage
    time_start: float | None = None  # transcripts: seconds into the recording
    scores: dict[str, float | None] = field(default_factory=dict)  # similarity, text rank, spelling
    ranks: dict[str, int | None] = field(default_factory=dict)  # per-signal rank (1 = best)
    section_date_end: date | None = None
    page: int | None = None  # notes with pages (a PDF): the page the passage starts on

    @property
    def when(self) -> str:
        """The day or span the passage speaks of, as people write it ("October 2022")."""
        if self.section_date is None:
            return describe_date(self.meeting_date, self.meeting_date)
        return describe_date(self.section_date, self.section_date_end or self.section_date)


_SQL = """
WITH vec AS (
    SELECT id, sim, row_number() OVER (ORDER BY dist) AS r FROM (
        SELECT c.id, c.embedding <=> %(q)s AS dist, 1 - (c.embedding <=> %(q)s) AS sim
        FROM chunks c WHERE c.tenant_id = %(tenant)s {filters}
        ORDER BY c.embedding <=> %(q)s LIMIT %(pool)s) v
), common_freq AS MATERIALIZED (  -- Citus: a catalog view must be read before the distributed part
    -- how many passages hold each frequent word, from the planner's statistics (ANALYZE)
    SELECT e.lexeme, e.freq
    FROM pg_stats s,
         unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(lexeme, freq)
    WHERE s.schemaname = current_schema() AND s.tablename = 'chunks' AND s.attname = 'tsv'
      AND e.lexeme IS NOT NULL
), rare AS MATERIALIZED (
    -- the rarest few content words, each with how many passages hold it (capped: beyond that a
    -- word says little); a passage with more of them, and rarer ones, ranks higher
    SELECT r.lexeme, ln((%(df_cap)s + 1.0) / (r.df + 1)) AS idf FROM (
        SELECT w.lexeme,
               (SELECT least(coalesce(sum(t.passages), 0), %(df_cap)s) FROM note_terms t  -- sql/024
                WHERE t.tenant_id = %(tenant)s AND t.lexeme = w.lexeme) AS df
        FROM unnest(tsvector_to_array(to_tsvector('english', %(words)s))) AS w(lexeme)
        LEFT JOIN common_freq f ON f.lexeme = w.lexeme
        WHERE COALESCE(f.freq, 0) <= %(common_share)s
        ORDER BY COALESCE(f.freq, 0), w.lexeme LIMIT %(max_words)s) r
    WHERE r.df > 0
), matched AS (
    -- each word brings its own share of passages: a word in hundreds of them cannot crowd out
    -- the one passage holding a rare one ("why did lidel apply for a visa"); each passage once,
    -- with its words as the scan read them (fetching them again by id cost a third of the query)
    SELECT DISTINCT ON (m.id) m.id, m.tsv, sum(rare.idf) OVER (PARTITION BY m.id) AS idf FROM rare, LATERAL (
        SELECT c.id, c.tsv FROM chunks c
        WHERE c.tenant_id = %(tenant)s AND c.tsv @@ to_tsquery('simple', quote_literal(rare.lexeme)) {filters}
        LIMIT %(rank_cap)s) m
), fts AS (
    SELECT id, rank, row_number() OVER (ORDER BY rank DESC, id) AS r FROM (
        -- the rarity of the words a passage holds, then how closely it holds them (cover density)
        SELECT matched.id, matched.idf + ts_rank_cd(matched.tsv, q.query, 32) AS rank
        FROM matched,
             (SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS query FROM rare) q
        ORDER BY rank DESC, id LIMIT %(pool)s) f
), candidates AS (
    -- trigram similarity is costly on long passages: only the leaders of the other signals
    SELECT id FROM vec WHERE %(use_vector)s AND r <= %(spell_pool)s
    UNION SELECT id FROM fts WHERE %(use_fulltext)s AND r <= %(spell_pool)s
), spelled AS (
    SELECT id, ws, row_number() OVER (ORDER BY ws DESC, id) AS r FROM (
        -- computed once per passage: on long passages it is the costliest call of the query
        -- (and only when asked for: the final join reads this CTE whichever signals take part)
        SELECT c.id, word_similarity(%(spell)s, c.text) AS ws
        FROM candidates JOIN chunks c ON c.tenant_id = %(tenant)s AND c.id = candidates.id
        WHERE %(use_trigram)s) s
), fused AS (
    SELECT id, sum(w / ({rrf_k} + r)) AS score FROM (
        SELECT id, r, %(w_vector)s::float8 AS w FROM vec WHERE %(use_vector)s
        UNION ALL SELECT id, r, %(w_fulltext)s::float8 FROM fts WHERE %(use_fulltext)s
        UNION ALL SELECT id, r, %(w_trigram)s::float8 FROM spelled WHERE %(use_trigram)s) s
    GROUP BY id
    ORDER BY score DESC, id LIMIT %(k)s
)
SELECT c.id AS chunk_id, c.meeting_id, m.title AS meeting_title, m.date_start AS meeting_date, m.source,
       c.section_path, c.section_date, c.section_date_end, c.text, c.line_start, c.line_end, c.content_hash,
       f.score AS fused, c.speakers, c.time_start, c.page,
       COALESCE(vec.sim, 1 - (c.embedding <=> %(q)s)) AS vector_score, vec.r AS vector_rank,
       fts.rank AS fulltext_score, fts.r AS fulltext_rank,
       spelled.ws AS trigram_score, spelled.r AS trigram_rank
FROM fused f JOIN chunks c ON c.tenant_id = %(tenant)s AND c.id = f.id
JOIN meetings m ON m.tenant_id = c.tenant_id AND m.id = c.meeting_id
LEFT JOIN vec ON vec.id = f.id LEFT JOIN fts ON fts.id = f.id LEFT JOIN spelled ON spelled.id = f.id
ORDER BY f.score DESC, c.id
"""


def query_words(text: str) -> list[str]:
    """The words worth matching: no stop words or question scaffolding (`SEARCH_STOP_WORDS`), no punctuation."""
    # "who's", "what’s": the contraction goes, the word is looked up as itself
    words = [
        re.sub(r"['’](?:s|re|ll|d|ve|m)$", "", w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9'’._-]*", text.lower())
    ]
    return [w.strip("'’._-") for w in words if w not in SEARCH_STOP_WORDS and len(w.strip("'’._-")) > 1]


def highlight(text: str, query: str, *, start: str = "«", end: str = "»") -> str:
    """Mark words of the passage that begin with the root of a query word (`word_root`)."""
    stems = {word_root(w) for w in query_words(query)}
    if not stems:
        return text
    # one pass with one pattern: a callback per word cost more than the database query
    alternatives = "|".join(re.escape(s) for s in sorted(stems, key=len, reverse=True))
    pattern = re.compile(rf"(?<![A-Za-z0-9'-])(?:{alternatives})[A-Za-z0-9'-]*", re.IGNORECASE)
    return pattern.sub(lambda m: f"{start}{m.group(0)}{end}", text)


def hybrid_search(
    conn: psycopg.Connection,
    embedding: np.ndarray,
    text: str,
    *,
    tenant: str,
    filters: SearchFilters | None = None,
    k: int = 10,
    signals: tuple[str, ...] = SIGNALS,
    pool: int = 40,
    weights: dict[str, float] | None = None,
    rank_cap: int = RANK_CAP,
    marked: bool = True,
) -> list[SearchHit]:
    """`marked`: mark the question's words in every hit's text (`highlight`); search_judged marks
    only the k it keeps, since marking a pool of long passages cost as much as ranking it."""
    unknown = set(signals) - set(SIGNALS)
    if unknown or not signals:
        raise ValueError(f"signals must be some of {SIGNALS}")
    filters = filters or SearchFilters()
    params: dict[str, Any] = {
        "q": embedding,
        "text": text,
        "words": " ".join(query_words(text)),  # stop words and question scaffolding removed
        "common_share": COMMON_SHARE,
        "max_words": MAX_WORDS,
        "spell_pool": SPELL_POOL,
        "rank_cap": rank_cap,
        "df_cap": DF_CAP,
        "spell": " ".join(query_words(text)) or text,
        "tenant": tenant,
        "k": k,
        "pool": max(pool, k),
        "use_vector": "vector" in signals,
        "use_fulltext": "fulltext" in signals,
        "use_trigram": "trigram" in signals and ("vector" in signals or "fulltext" in signals),
        **{f"w_{name}": w for name, w in (weights or WEIGHTS).items()},
        **filters.params(),
    }
    sql = _SQL.format(filters=filters.sql(), rrf_k=RRF_K)
    with conn.cursor(row_factory=dict_row) as cur:
        # custom plans: a generic plan cannot see how selective this query's filters and words are
        rows = cur.execute(sql, params, prepare=False).fetchall()
    return [
        SearchHit(
            rank=i,
            chunk_id=r["chunk_id"],
            meeting_id=r["meeting_id"],
            meeting_title=r["meeting_title"],
            meeting_date=r["meeting_date"],
            source=r["source"],
            section_path=list(r["section_path"]),
            section_date=r["section_date"],
            section_date_end=r["section_date_end"],
            text=r["text"],
            highlighted=highlight(r["text"], text) if marked else r["text"],
            line_start=r["line_start"] + 1,  # 1-based, as editors and every output show lines
            line_end=r["line_end"] + 1,
            content_hash=r["content_hash"],
            fused=float(r["fused"]),
            speakers=list(r["speakers"] or []),
            time_start=r["time_start"],
            scores={
                "vector": _f(r["vector_score"]),
                "fulltext": _f(r["fulltext_score"]),
                "trigram": _f(r["trigram_score"]),
            },
            ranks={"vector": r["vector_rank"], "fulltext": r["fulltext_rank"], "trigram": r["trigram_rank"]},
            page=r["page"],
        )
        for i, r in enumerate(rows, 1)
    ]


def _f(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)
