""" "Who was on the call of March 4?": the attendee lists of the meetings a question points at,
as evidence beside its passages (search/evidence.py). A question with a date asks about the
meetings of that window; one without asks about the meetings its best passages come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import psycopg

MAX_MEETINGS = 3  # attendee lists given as evidence for one question


@dataclass(frozen=True)
class Attendance:
    meeting_id: int
    meeting_title: str
    meeting_date: date | None
    source: str
    names: list[str] = field(default_factory=list)


def meeting_attendance(
    conn: psycopg.Connection,
    *,
    tenant: str,
    since: date | None,
    until: date | None,
    meeting_ids: list[int],
    limit: int = MAX_MEETINGS,
) -> list[Attendance]:
    """The attendees of the meetings in the window (earliest first), else of `meeting_ids` (in
    that order); only meetings with an attendee list."""
    if since or until:
        where = "COALESCE(m.date_end, m.date_start) >= COALESCE(%(since)s, '-infinity'::date)" \
                " AND m.date_start <= COALESCE(%(until)s, 'infinity'::date)"  # fmt: skip
        order = "m.date_start, m.id"
    elif meeting_ids:
        where = "m.id = ANY(%(ids)s)"
        order = "array_position(%(ids)s, m.id)"
    else:
        return []
    rows = conn.execute(
        f"""SELECT m.id, m.title, m.date_start, m.source,
                   array_agg(p.name ORDER BY p.name) AS names
            FROM meetings m JOIN meeting_attendees a ON a.tenant_id = m.tenant_id AND a.meeting_id = m.id
              JOIN people p ON p.tenant_id = a.tenant_id AND p.id = a.person_id
            WHERE m.tenant_id = %(tenant)s AND {where}
            GROUP BY m.tenant_id, m.id ORDER BY {order} LIMIT %(limit)s""",
        {"tenant": tenant, "since": since, "until": until, "ids": meeting_ids, "limit": limit},
    ).fetchall()
    return [Attendance(r[0], r[1], r[2], r[3], list(r[4])) for r in rows]
