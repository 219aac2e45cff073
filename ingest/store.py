"""Writing one note — meeting row and chunks — inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
from minutebook.ingest.chunk import Chunk
from minutebook.ingest.parse import ParsedNote
from minutebook.ingest.reader import NoteText
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class StoreResult:
    status: str  # new | updated | unchanged
    meeting_id: int
    detail: str | None = None


def lock_source(conn: psycopg.Connection, tenant: str, source: str) -> None:
    """Serialise writers of the same note (two concurrent ingests must make one meeting)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{tenant}\x1f{source}",))


def find_unchanged(conn: psycopg.Connection, tenant: str, note: NoteText) -> StoreResult | None:
    """The stored meeting when nothing needs writing: this source with this content, or (for a
    source not seen before) the same content already ingested from elsewhere."""
    params = {"tenant": tenant, "hash": note.content_hash, "source": note.source}
    row = conn.execute(
        "SELECT id, content_hash FROM meetings WHERE tenant_id = %(tenant)s AND source = %(source)s",
        params,
    ).fetchone()
    if row is not None:
        return StoreResult("unchanged", row[0]) if row[1] == note.content_hash else None
    row = conn.execute(
        "SELECT id, source FROM meetings WHERE tenant_id = %(tenant)s AND content_hash = %(hash)s LIMIT 1",
        params,
    ).fetchone()
    return StoreResult("unchanged", row[0], f"same content as {row[1]}") if row else None


def store_note(
    conn: psycopg.Connection,
    *,
    tenant: str,
    note: NoteText,
    parsed: ParsedNote,
    chunks: list[Chunk],
    embeddings: np.ndarray,
) -> StoreResult:
    """Insert or replace the meeting for `note.source`; the caller's transaction makes it atomic."""
    lock_source(conn, tenant, note.source)
    if (same := find_unchanged(conn, tenant, note)) is not None:
        return same
    attendees = Jsonb([{"name": a.name, "role": a.role} for a in parsed.attendees])
    values = {
        "tenant": tenant,
        "source": note.source,
        "title": parsed.title,
        "start": parsed.date_start,
        "end": parsed.date_end,
        "attendees": attendees,
        "hash": note.content_hash,
        "raw": note.text,
        "encoding": note.encoding,
    }
    row = conn.execute(
        """UPDATE meetings SET title = %(title)s, date_start = %(start)s, date_end = %(end)s,
                  attendees = %(attendees)s, content_hash = %(hash)s, raw_text = %(raw)s,
                  encoding = %(encoding)s, ingested_at = now()
           WHERE tenant_id = %(tenant)s AND source = %(source)s
           RETURNING id""",
        values,
    ).fetchone()
    if row is not None:
        meeting_id, status = row[0], "updated"
        conn.execute("DELETE FROM chunks WHERE meeting_id = %s", (meeting_id,))
    else:
        row = conn.execute(
            """INSERT INTO meetings (tenant_id, source, title, date_start, date_end, attendees,
                                     content_hash, raw_text, encoding)
               VALUES (%(tenant)s, %(source)s, %(title)s, %(start)s, %(end)s, %(attendees)s,
                       %(hash)s, %(raw)s, %(encoding)s)
               RETURNING id""",
            values,
        ).fetchone()
        assert row is not None
        meeting_id, status = row[0], "new"
    copy_chunks(conn, tenant=tenant, meeting_id=meeting_id, chunks=chunks, embeddings=embeddings)
    return StoreResult(status, meeting_id)


def copy_chunks(
    conn: psycopg.Connection, *, tenant: str, meeting_id: int, chunks: list[Chunk], embeddings: np.ndarray
) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            """COPY chunks (tenant_id, meeting_id, ordinal, section_path, section_date, text, embed_text,
                        token_count, line_start, line_end, content_hash, embedding)
           FROM STDIN WITH (FORMAT BINARY)"""
        ) as copy,
    ):
        copy.set_types(
            [
                "text",
                "int8",
                "int4",
                "text[]",
                "date",
                "text",
                "text",
                "int4",
                "int4",
                "int4",
                "text",
                "vector",
            ]
        )
        for chunk, vector in zip(chunks, embeddings, strict=True):
            copy.write_row(
                (
                    tenant,
                    meeting_id,
                    chunk.ordinal,
                    list(chunk.section_path),
                    chunk.section_date,
                    chunk.text,
                    chunk.embed_text,
                    chunk.token_count,
                    chunk.line_start,
                    chunk.line_end,
                    chunk.content_hash,
                    vector,
                )
            )


def schema_embedding_dim(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'"
    ).fetchone()
    assert row is not None
    return int(row[0])
