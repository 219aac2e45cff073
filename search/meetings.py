"""Meetings as stored: a page of them, or one with its attendees and items."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from minutebook.core.dates import DateMention, describe_date
from minutebook.ingest.redate import set_meeting_date
from minutebook.search.owners import ItemView, list_items


@dataclass(frozen=True)
class MeetingSummary:
    id: int
    title: str
    source: str
    date_start: date | None
    date_end: date | None
    ingested_at: datetime
    chunks: int
    items: int
    date_precision: str | None = None  # day | range | month | quarter; None when undated
    date_text: str | None = None  # as the note (or the user) wrote it
    date_source: str | None = None  # where it was read: given | front matter | title | heading | file name …
    when: str = ""  # as people write it: "2022-11-07", "October 2022"; "" when undated
    attendee_names: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MeetingSummary:
        return cls(**row, when=describe_date(row["date_start"], row["date_end"], row["date_precision"]))


@dataclass(frozen=True)
class Passage:
    """Where a chunk sits in the note: its section and 1-based lines (transcripts: who, when)."""

    chunk_id: int
    section: list[str]
    line_start: int
    line_end: int
    speakers: list[str] = field(default_factory=list)
    time_start: float | None = None


@dataclass(frozen=True)
class MeetingDetail:
    meeting: MeetingSummary
    attendees: list[dict[str, Any]]
    items: list[ItemView] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    lines: list[str] | None = None  # the note as written, when asked for


# The subqueries name the tenant as a value, not as `m.tenant_id`: Citus routes a statement to
# the tenant's one shard only when every table in it, subqueries included, is pinned to a value.
_SUMMARY = """m.id, m.title, m.source, m.date_start, m.date_end, m.date_precision, m.date_text, m.date_source,
    m.ingested_at,
    (SELECT count(*) FROM chunks c WHERE c.tenant_id = %(tenant)s AND c.meeting_id = m.id) AS chunks,
    (SELECT count(*) FROM items i WHERE i.tenant_id = %(tenant)s AND i.meeting_id = m.id) AS items,
    COALESCE((SELECT array_agg(p.name ORDER BY p.name) FROM meeting_attendees a
      JOIN people p ON p.tenant_id = a.tenant_id AND p.id = a.person_id
              WHERE a.tenant_id = %(tenant)s AND a.meeting_id = m.id), '{}') AS attendee_names"""


def list_meetings(
    conn: psycopg.Connection,
    *,
    tenant: str,
    since: date | None = None,
    until: date | None = None,
    undated: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[MeetingSummary]:
    """Newest first; a meeting spanning days (a range, a month) counts when any of its days is in
    the window. `undated`: only the meetings nothing gave a date, oldest ingest first."""
    query = f"""SELECT {_SUMMARY} FROM meetings m
        WHERE m.tenant_id = %(tenant)s AND (%(since)s::date IS NULL OR COALESCE(m.date_end, m.date_start) >= %(since)s)
          AND (%(until)s::date IS NULL OR m.date_start <= %(until)s)
          AND (NOT %(undated)s OR m.date_start IS NULL)
        ORDER BY m.date_start DESC NULLS LAST, m.id DESC
        LIMIT %(limit)s OFFSET %(offset)s"""
    params = {"tenant": tenant, "since": since, "until": until, "undated": undated, "limit": limit, "offset": offset}
    with conn.cursor(row_factory=dict_row) as cur:
        return [MeetingSummary.from_row(r) for r in cur.execute(query, params).fetchall()]


@dataclass(frozen=True)
class MeetingChoice:
    id: int
    title: str
    when: str


def meeting_choices(conn: psycopg.Connection, *, tenant: str, limit: int = 500) -> list[MeetingChoice]:
    """Meetings to pick from (a search filter): newest first, without the counts a list shows."""
    rows = conn.execute(
        """SELECT id, title, date_start, date_end, date_precision FROM meetings WHERE tenant_id = %s
           ORDER BY date_start DESC NULLS LAST, id DESC LIMIT %s""",
        (tenant, limit),
    ).fetchall()
    return [MeetingChoice(r[0], r[1], describe_date(r[2], r[3], r[4])) for r in rows]


def _summary_row(cur: psycopg.Cursor[dict[str, Any]], tenant: str, meeting_id: int) -> dict[str, Any] | None:
    """One meeting's `_SUMMARY`, as the list shows it (None when the tenant has no such meeting)."""
    return cur.execute(
        f"SELECT {_SUMMARY} FROM meetings m WHERE m.tenant_id = %(tenant)s AND m.id = %(id)s",
        {"tenant": tenant, "id": meeting_id},
    ).fetchone()


def get_meeting(
    conn: psycopg.Connection, meeting_id: int, *, tenant: str, with_text: bool = False
) -> MeetingDetail | None:
    """`with_text`: also the note's lines as written, which citations' line numbers point into."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = _summary_row(cur, tenant, meeting_id)
        if row is None:
            return None
        attendees = cur.execute(
            """SELECT p.name, p.kind, COALESCE(a.role, p.role) AS role
               FROM meeting_attendees a JOIN people p ON p.tenant_id = a.tenant_id AND p.id = a.person_id
               WHERE a.tenant_id = %s AND a.meeting_id = %s ORDER BY p.name""",
            (tenant, meeting_id),
        ).fetchall()
        passages = cur.execute(
            """SELECT id AS chunk_id, section_path AS section, line_start + 1 AS line_start,
                      line_end + 1 AS line_end, speakers, time_start
               FROM chunks WHERE tenant_id = %s AND meeting_id = %s ORDER BY line_start, ordinal""",
            (tenant, meeting_id),
        ).fetchall()
        text = None
        if with_text:
            found = cur.execute(
                "SELECT raw_text FROM meetings WHERE tenant_id = %s AND id = %s", (tenant, meeting_id)
            ).fetchone()
            text = found["raw_text"].splitlines() if found else []
    items = list_items(conn, tenant=tenant, meeting_id=meeting_id, limit=1000)
    return MeetingDetail(MeetingSummary.from_row(row), attendees, items, [Passage(**p) for p in passages], text)


def date_meeting(conn: psycopg.Connection, tenant: str, meeting_id: int, given: DateMention) -> MeetingSummary | None:
    """Give meeting `meeting_id` a date a user stated (see `parse_given_date`); None when the tenant
    has no such meeting. Its passages take the date and the cached answers that depended on its
    dates are dropped, in the caller's transaction."""
    if set_meeting_date(conn, tenant, meeting_id, given) is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = _summary_row(cur, tenant, meeting_id)
    assert row is not None
    return MeetingSummary.from_row(row)
