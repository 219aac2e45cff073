"""Template text at question time: passages and items made of lines that many of the tenant's
meetings share (see ingest/boilerplate.py) are kept out of ranking and answers."""

from __future__ import annotations

import psycopg

from minutebook.ingest.boilerplate import TEMPLATE_MIN_MEETINGS, TEMPLATE_SHARE, fingerprints, template_threshold


def template_fingerprints(conn: psycopg.Connection, tenant: str, found: list[int]) -> set[int]:
    """The line fingerprints among `found` that are template text in this tenant."""
    if not found:
        return set()
    rows = conn.execute(  # the tenant's meeting count in the same round trip: it sets the bar
        """SELECT fingerprint, count(DISTINCT meeting_id),
                  (SELECT count(*) FROM meetings WHERE tenant_id = %(tenant)s)
           FROM chunk_lines WHERE tenant_id = %(tenant)s AND fingerprint = ANY(%(found)s)
           GROUP BY fingerprint HAVING count(DISTINCT meeting_id) >= %(least)s""",
        {"tenant": tenant, "found": found, "least": TEMPLATE_MIN_MEETINGS},
    ).fetchall()
    return {fingerprint for fingerprint, shared, meetings in rows if shared >= template_threshold(meetings)}


def template_chunks(conn: psycopg.Connection, tenant: str, passages: dict[int, str]) -> set[int]:
    """The passages (chunk id → text) that are mostly template text."""
    lines = {chunk_id: fingerprints(text) for chunk_id, text in passages.items()}
    template = template_fingerprints(conn, tenant, sorted({f for found in lines.values() for f in found}))
    return {
        chunk_id
        for chunk_id, found in lines.items()
        if found and sum(f in template for f in found) / len(found) >= TEMPLATE_SHARE
    }
