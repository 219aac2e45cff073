"""Template text at question time: passages and items made of lines that many of the tenant's
meetings share (see ingest/boilerplate.py) are kept out of ranking and answers."""

from __future__ import annotations

import psycopg

from minutebook.ingest.boilerplate import TEMPLATE_SHARE, fingerprints, template_threshold


def _threshold(conn: psycopg.Connection, tenant: str) -> int:
    row = conn.execute("SELECT count(*) FROM meetings WHERE tenant_id = %s", (tenant,)).fetchone()
    return template_threshold(int(row[0]) if row else 0)


def template_fingerprints(conn: psycopg.Connection, tenant: str, found: list[int]) -> set[int]:
    """The line fingerprints among `found` that are template text in this tenant."""
    if not found:
        return set()
    rows = conn.execute(
        """SELECT fingerprint FROM chunk_lines WHERE tenant_id = %s AND fingerprint = ANY(%s)
           GROUP BY fingerprint HAVING count(DISTINCT meeting_id) >= %s""",
        (tenant, found, _threshold(conn, tenant)),
    ).fetchall()
    return {r[0] for r in rows}


def template_chunks(conn: psycopg.Connection, tenant: str, passages: dict[int, str]) -> set[int]:
    """The passages (chunk id → text) that are mostly template text."""
    lines = {chunk_id: fingerprints(text) for chunk_id, text in passages.items()}
    template = template_fingerprints(conn, tenant, sorted({f for found in lines.values() for f in found}))
    return {
        chunk_id
        for chunk_id, found in lines.items()
        if found and sum(f in template for f in found) / len(found) >= TEMPLATE_SHARE
    }
