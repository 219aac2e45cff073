"""Meetings as stored: a page of them, or one with its attendees and items."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

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


@dataclass(frozen=True)
class MeetingDetail:
    meeting: MeetingSummary
    attendees: list[dict[str, Any]]
    items: list[ItemView] = field(default_factory=list)


_SUMMARY = """m.id, m.title, m.source, m.date_start, m.date_end, m.ingested_at,
    (SELECT count(*) FROM chunks c WHERE c.meeting_id = m.id) AS chunks,
    (SELECT count(*) FROM items i WHERE i.meeting_id = m.id) AS items"""


def list_meetings(
    conn: psycopg.Connection,
    *,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[MeetingSummary]:
    """Newest first; a meeting spanning days counts when any of its days is in the window."""
    query = f"""SELECT {_SUMMARY} FROM meetings m
        WHERE (%(since)s::date IS NULL OR COALESCE(m.date_end, m.date_start) >= %(since)s)
          AND (%(until)s::date IS NULL OR m.date_start <= %(until)s)
        ORDER BY m.date_start DESC NULLS LAST, m.id DESC
        LIMIT %(limit)s OFFSET %(offset)s"""
    params = {"since": since, "until": until, "limit": limit, "offset": offset}
    with conn.cursor(row_factory=dict_row) as cur:
        return [MeetingSummary(**r) for r in cur.execute(query, params).fetchall()]


def get_meeting(conn: psycopg.Connection, meeting_id: int, *, tenant: str) -> MeetingDetail | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_SUMMARY} FROM meetings m WHERE m.id = %s", (meeting_id,)).fetchone()
        if row is None:
            return None
        attendees = cur.execute(
            """SELECT p.name, p.kind, COALESCE(a.role, p.role) AS role
               FROM meeting_attendees a JOIN people p ON p.id = a.person_id
               WHERE a.meeting_id = %s ORDER BY p.name""",
            (meeting_id,),
        ).fetchall()
    items = list_items(conn, tenant=tenant, meeting_id=meeting_id, limit=1000)
    return MeetingDetail(MeetingSummary(**row), attendees, items)
