"""A search request as a user makes it: text that may carry time words, plus explicit filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import QueryError
from minutebook.search.hybrid import SearchFilters, SearchHit
from minutebook.search.ranking import search_judged
from minutebook.search.relevance import unrelated_similarity
from minutebook.search.timewords import TimeWindow, parse_time_window, strip_time_phrase


@dataclass(frozen=True)
class SearchResult:
    query: str
    searched_text: str  # the query without its time words
    window: TimeWindow | None
    filters: SearchFilters
    hits: list[SearchHit] = field(default_factory=list)
    declined: str | None = None  # "not in the notes: …" when no passage is about the question

    @property
    def interpretation(self) -> str | None:
        if self.window is None:
            return None
        return f'"{self.window.phrase}" interpreted as {self.window.describe()}'


def resolve_window(
    text: str, *, since: date | None, until: date | None, as_of: date
) -> tuple[str, TimeWindow | None, date | None, date | None]:
    """Explicit --since/--until win; otherwise time words in the text set the window."""
    if since and until and since > until:
        raise QueryError(f"--since {since} is after --until {until}")
    window = parse_time_window(text, as_of) if since is None and until is None else None
    searched = strip_time_phrase(text, window)
    if window:
        since, until = window.start, window.end
    return searched, window, since, until


def search_notes(
    pool: ConnectionPool,
    embedder: Embedder,
    text: str,
    *,
    tenant: str,
    as_of: date,
    since: date | None = None,
    until: date | None = None,
    person: str | None = None,
    meeting_id: int | None = None,
    kind: str | None = None,
    k: int = 10,
) -> SearchResult:
    if not text.strip():
        raise QueryError("search needs some text to look for")
    searched, window, since, until = resolve_window(text, since=since, until=until, as_of=as_of)
    filters = SearchFilters(since=since, until=until, meeting_id=meeting_id, person=person, kind=kind)
    embedding = embedder.encode_one(searched)
    with tenant_transaction(pool, tenant) as conn:
        unrelated = unrelated_similarity(conn, embedder, tenant=tenant)
        _, judged = search_judged(
            # a chosen meeting, like a time window, is the subject: whatever it holds answers
            conn, embedding, searched, tenant=tenant, filters=filters, k=k, unrelated=unrelated,
            windowed=window is not None or meeting_id is not None,
        )  # fmt: skip
    return SearchResult(text, searched, window, filters, judged.hits, judged.declined)
