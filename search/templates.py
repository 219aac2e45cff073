"""Template text at question time: passages and items made of lines that many of the tenant's
meetings share (see ingest/boilerplate.py) are kept out of ranking and answers."""

from __future__ import annotations

import psycopg

from minutebook.ingest.boilerplate import TEMPLATE_SHARE, template_threshold

_SHARES_SQL = """
WITH lines AS (
    SELECT c.id, l.fingerprint FROM chunks c
    JOIN chunk_lines l ON l.meeting_id = c.meeting_id AND l.ordinal = c.ordinal
    WHERE c.id = ANY(%(ids)s)
), counts AS (
    SELECT f.fingerprint, count(DISTINCT x.meeting_id) AS meetings
    FROM (SELECT DISTINCT fingerprint FROM lines) f
    JOIN chunk_lines x ON x.tenant_id = %(tenant)s AND x.fingerprint = f.fingerprint
    GROUP BY f.fingerprint
)
SELECT l.id, count(*) FILTER (WHERE c.meetings >= %(threshold)s)::float / count(*)
FROM lines l JOIN counts c USING (fingerprint)
GROUP BY l.id
"""


def _threshold(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM meetings").fetchone()  # row-level security: this tenant's
    return template_threshold(int(row[0]) if row else 0)


def template_chunks(conn: psycopg.Connection, tenant: str, chunk_ids: list[int]) -> set[int]:
    """The passages among `chunk_ids` that are mostly template text."""
    if not chunk_ids:
        return set()
    rows = conn.execute(_SHARES_SQL, {"ids": chunk_ids, "tenant": tenant, "threshold": _threshold(conn)}).fetchall()
    return {chunk_id for chunk_id, share in rows if share >= TEMPLATE_SHARE}


def template_fingerprints(conn: psycopg.Connection, tenant: str, fingerprints: list[int]) -> set[int]:
    """The line fingerprints among these that are template text in this tenant."""
    if not fingerprints:
        return set()
    rows = conn.execute(
        """SELECT fingerprint FROM chunk_lines WHERE tenant_id = %s AND fingerprint = ANY(%s)
           GROUP BY fingerprint HAVING count(DISTINCT meeting_id) >= %s""",
        (tenant, fingerprints, _threshold(conn)),
    ).fetchall()
    return {r[0] for r in rows}
