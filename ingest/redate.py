"""Giving a meeting its date after ingest: `minutebook meetings set-date` and PATCH /v1/meetings/{id}.

The note is re-read from its stored text with the given date, so its sections take the new date
(or keep the dates their headings state) exactly as an ingest with `--date` would have given them;
the meeting, its passages and the cached answers that depended on its dates change in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import PurePath

import psycopg

from minutebook.core.dates import DateMention
from minutebook.ingest.parse import parse_note


@dataclass(frozen=True)
class Redated:
    meeting_id: int
    date_start: date
    date_end: date
    precision: str
    passages: int


def set_meeting_date(conn: psycopg.Connection, tenant: str, meeting_id: int, given: DateMention) -> Redated | None:
    """Date meeting `meeting_id` (None when the tenant has no such meeting); the caller's
    transaction makes it atomic. Every statement names the tenant: on Citus that routes it to the
    tenant's one shard (a row lock is refused on a query sent to every shard)."""
    row = conn.execute(
        "SELECT source, raw_text FROM meetings WHERE tenant_id = %s AND id = %s FOR UPDATE", (tenant, meeting_id)
    ).fetchone()
    if row is None:
        return None
    source, raw_text = row
    parsed = parse_note(raw_text, PurePath(source).name, given=given)
    span_of_line = {
        line.number: (section.date, section.date_end) for section in parsed.sections for line in section.lines
    }
    conn.execute(
        """UPDATE meetings SET date_start = %s, date_end = %s, date_precision = %s, date_text = %s,
                  date_source = 'given'
           WHERE tenant_id = %s AND id = %s""",
        (given.start, given.end, given.precision, given.text, tenant, meeting_id),
    )
    chunks = conn.execute(
        "SELECT id, line_start FROM chunks WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id)
    ).fetchall()
    ids, starts, ends = [], [], []
    for chunk_id, line_start in chunks:
        first, last = span_of_line.get(line_start, (given.start, given.end))
        ids.append(chunk_id)
        starts.append(first)
        ends.append(last)
    conn.execute(
        """UPDATE chunks c SET section_date = v.first, section_date_end = v.last
           FROM unnest(%s::bigint[], %s::date[], %s::date[]) AS v(id, first, last)
           WHERE c.tenant_id = %s AND c.id = v.id""",
        (ids, starts, ends, tenant),
    )
    return Redated(meeting_id, given.start, given.end, given.precision, len(ids))


def given_dates(conn: psycopg.Connection, tenant: str, sources: list[str]) -> dict[str, DateMention]:
    """Dates users gave these notes earlier: a changed note keeps the date it was given."""
    rows = conn.execute(
        """SELECT source, date_start, date_end, date_precision, COALESCE(date_text, '') FROM meetings
           WHERE tenant_id = %s AND source = ANY(%s) AND date_source = 'given'""",
        (tenant, sources),
    ).fetchall()
    return {r[0]: DateMention(r[1], r[2], r[4], (0, 0), True, r[3]) for r in rows}
