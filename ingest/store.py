"""Writing one note — meeting row and chunks — inside the caller's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from minutebook.core.database import LOCK_WAIT_SECONDS, on_citus, transaction_lock
from minutebook.ingest.boilerplate import fingerprints, line_fingerprint
from minutebook.ingest.chunk import Chunk
from minutebook.ingest.extract import ExtractedItem
from minutebook.ingest.formats.common import page_at, page_starts
from minutebook.ingest.parse import Attendee, ParsedNote
from minutebook.ingest.people import PeopleDirectory
from minutebook.ingest.reader import NoteText
from minutebook.ingest.vocabulary import record_note_words

_PACKAGE = Path(__file__).resolve().parent.parent
# The modules that decide what a note turns into (its date, attendance, items, owners, people and
# the line fingerprints stored in chunk_lines). Their source is the extraction version: a change to
# any of them re-reads stored notes (`minutebook reextract`, or `ingest` of an unchanged note).
EXTRACTION_MODULES: tuple[str, ...] = (
    "ingest/grammar/notes.py",  # the note grammar (questions.py reads questions, not notes)
    "ingest/parse.py",
    "ingest/extract.py",
    "ingest/commitments.py",
    "ingest/owners.py",
    "ingest/attendance.py",
    "ingest/boilerplate.py",
    "ingest/spoken.py",
    "ingest/transcript.py",
    "ingest/people.py",
    "core/dates.py",
)


def extraction_sources(root: Path = _PACKAGE) -> list[Path]:
    """The files of EXTRACTION_MODULES, in a fixed order."""
    found: list[Path] = []
    for name in EXTRACTION_MODULES:
        path = root / name
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


@cache
def extractor_version() -> str:
    """A short sha256 of the extraction modules' source: it changes whenever they do, with no
    number to remember to bump. Computed at first use, not at import."""
    digest = hashlib.sha256()
    for path in extraction_sources():
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class StoreResult:
    status: str  # new | updated | unchanged
    meeting_id: int
    detail: str | None = None


def lock_source(conn: psycopg.Connection, tenant: str, source: str) -> None:
    """Serialise writers of the same note (two concurrent ingests must make one meeting)."""
    transaction_lock(
        conn,
        f"{tenant}\x1f{source}",
        seconds=LOCK_WAIT_SECONDS,
        busy=f"{source} is being ingested by another writer; retry",
    )


def find_unchanged(conn: psycopg.Connection, tenant: str, note: NoteText) -> StoreResult | None:
    """The stored meeting when nothing needs writing: this source with this content, or (for a
    source not seen before) the same content already ingested from elsewhere."""
    params = {"tenant": tenant, "hash": note.content_hash, "source": note.source}
    row = conn.execute(
        """SELECT id, content_hash, extractor_version FROM meetings
           WHERE tenant_id = %(tenant)s AND source = %(source)s""",
        params,
    ).fetchone()
    if row is not None:
        current = row[1] == note.content_hash and row[2] == extractor_version()
        return StoreResult("unchanged", row[0]) if current else None
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
    items: list[ExtractedItem] | None = None,
    item_embeddings: np.ndarray | None = None,
) -> StoreResult:
    """Insert or replace the meeting for `note.source`; the caller's transaction makes it atomic."""
    lock_source(conn, tenant, note.source)
    if (same := find_unchanged(conn, tenant, note)) is not None:
        return same
    values = {
        **reading_values(parsed),
        "tenant": tenant,
        "source": note.source,
        "hash": note.content_hash,
        "raw": note.text,
        "encoding": note.encoding,
    }
    row = conn.execute(
        f"""UPDATE meetings SET {_READING_SET}, content_hash = %(hash)s, raw_text = %(raw)s,
                  encoding = %(encoding)s, ingested_at = now()
           WHERE tenant_id = %(tenant)s AND source = %(source)s
           RETURNING id""",
        values,
    ).fetchone()
    if row is not None:
        meeting_id, status = row[0], "updated"
        clear_extraction(conn, tenant=tenant, meeting_id=meeting_id)
        conn.execute("DELETE FROM chunks WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id))
    else:
        row = conn.execute(
            """INSERT INTO meetings (tenant_id, source, title, date_start, date_end, date_precision, date_text,
                                     date_source, date_order, attendees, content_hash, raw_text, encoding,
                                     extractor_version)
               VALUES (%(tenant)s, %(source)s, %(title)s, %(start)s, %(end)s, %(precision)s, %(date_text)s,
                       %(date_source)s, %(date_order)s, %(attendees)s, %(hash)s, %(raw)s, %(encoding)s,
                       %(version)s)
               RETURNING id""",
            values,
        ).fetchone()
        assert row is not None
        meeting_id, status = row[0], "new"
    copy_chunks(conn, tenant=tenant, meeting_id=meeting_id, chunks=chunks, embeddings=embeddings)
    store_extraction(
        conn,
        tenant=tenant,
        meeting_id=meeting_id,
        parsed=parsed,
        chunks=chunks,
        items=items or [],
        item_embeddings=item_embeddings,
    )
    return StoreResult(status, meeting_id)


# What a meeting row holds of how its note was read (store_note and reextract write the same).
_READING_SET = """title = %(title)s, date_start = %(start)s, date_end = %(end)s, date_precision = %(precision)s,
                  date_text = %(date_text)s, date_source = %(date_source)s, date_order = %(date_order)s,
                  attendees = %(attendees)s, extractor_version = %(version)s"""


def reading_values(parsed: ParsedNote) -> dict[str, Any]:
    """The meeting row's columns that come from reading the note, as query parameters."""
    return {
        "title": parsed.title,
        "start": parsed.date_start,
        "end": parsed.date_end,
        "precision": parsed.date_precision,
        "date_text": parsed.date_text,
        "date_source": parsed.date_source,
        "date_order": parsed.date_order,
        "attendees": Jsonb([{"name": a.name, "role": a.role, "handle": a.handle} for a in parsed.attendees]),
        "version": extractor_version(),
    }


def update_reading(conn: psycopg.Connection, *, tenant: str, meeting_id: int, parsed: ParsedNote) -> None:
    """Record a new reading of a stored note (title, date, attendees, extraction version); its
    text, hash and chunks stay."""
    conn.execute(
        f"UPDATE meetings SET {_READING_SET} WHERE tenant_id = %(tenant)s AND id = %(id)s",
        {**reading_values(parsed), "tenant": tenant, "id": meeting_id},
    )


def clear_extraction(conn: psycopg.Connection, *, tenant: str, meeting_id: int, same_fingerprints: bool = True) -> None:
    """Delete what was read from a stored note: its items (and their owners), attendance and the
    fingerprints of its passages' lines. Its chunks and their embeddings stay. When the line
    fingerprint itself may have changed since they were stored (`same_fingerprints=False`), the
    rows are found by meeting, which reads the tenant's whole index."""
    conn.execute("DELETE FROM items WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id))
    conn.execute("DELETE FROM meeting_attendees WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id))
    if not same_fingerprints:
        conn.execute("DELETE FROM chunk_lines WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id))
        return
    old = conn.execute(
        "SELECT text FROM chunks WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id)
    ).fetchall()
    conn.execute(  # by fingerprint, so the one index there is finds the rows
        "DELETE FROM chunk_lines WHERE tenant_id = %s AND fingerprint = ANY(%s) AND meeting_id = %s",
        (tenant, sorted({f for (text,) in old for f in fingerprints(text)}), meeting_id),
    )


def fingerprints_as_stored(conn: psycopg.Connection, *, tenant: str, meeting_id: int) -> bool:
    """Whether this meeting's stored line fingerprints are those `fingerprints` makes today of its
    chunks (false once the fingerprint changed, and the rows must be found another way)."""
    stored = conn.execute(
        "SELECT ordinal, fingerprint FROM chunk_lines WHERE tenant_id = %s AND meeting_id = %s",
        (tenant, meeting_id),
    ).fetchall()
    chunks = conn.execute(
        "SELECT ordinal, text FROM chunks WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id)
    ).fetchall()
    return sorted(stored) == sorted((ordinal, f) for ordinal, text in chunks for f in fingerprints(text))


def store_extraction(
    conn: psycopg.Connection,
    *,
    tenant: str,
    meeting_id: int,
    parsed: ParsedNote,
    chunks: list[Chunk],
    items: list[ExtractedItem],
    item_embeddings: np.ndarray | None,
) -> None:
    """Write what was read from a note whose chunks are stored: line fingerprints, attendance
    (resolving people) and items with their owners."""
    copy_chunk_lines(conn, tenant=tenant, meeting_id=meeting_id, chunks=chunks)
    people = PeopleDirectory(conn, tenant)
    store_attendees(conn, people, tenant=tenant, meeting_id=meeting_id, parsed=parsed)
    if items:
        assert item_embeddings is not None
        store_items(
            conn,
            people,
            tenant=tenant,
            meeting_id=meeting_id,
            chunks=chunks,
            items=items,
            embeddings=item_embeddings,
            lines=parsed.lines,
            attendees=parsed.attendees,
        )


def store_attendees(
    conn: psycopg.Connection, people: PeopleDirectory, *, tenant: str, meeting_id: int, parsed: ParsedNote
) -> None:
    for attendee in parsed.attendees:
        person_id = people.resolve(attendee.name, attendee.kind, attendee.role, handle=attendee.handle)
        conn.execute(
            """INSERT INTO meeting_attendees (tenant_id, meeting_id, person_id, role)
               VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (tenant, meeting_id, person_id, attendee.role or attendee.group),
        )


def as_attendee(name: str, kind: str, attendees: list[Attendee]) -> str:
    """A first name or handle written in a meeting is the one attendee of that meeting it names:
    "Sam" is Sam Park where Sam Park was present, even when the tenant has two Sams."""
    if kind != "person" or " " in name.strip():
        return name
    key = name.strip().lower()
    named = {
        a.name for a in attendees if a.kind == "person" and key in (a.name.split()[0].lower(), (a.handle or "").lower())
    }
    return next(iter(named)) if len(named) == 1 else name


def _chunk_for_line(chunks: list[Chunk], line: int) -> int | None:
    """The chunk holding `line`, else the first one after it (a record's body follows its title)."""
    for c in chunks:
        if c.line_start <= line <= c.line_end:
            return c.ordinal
    after = [c for c in chunks if c.line_start > line]
    if after:
        return min(after, key=lambda c: c.line_start).ordinal
    return chunks[-1].ordinal if chunks else None


def store_items(
    conn: psycopg.Connection,
    people: PeopleDirectory,
    *,
    tenant: str,
    meeting_id: int,
    chunks: list[Chunk],
    items: list[ExtractedItem],
    embeddings: np.ndarray,
    lines: list[str] | None = None,
    attendees: list[Attendee] | None = None,
) -> None:
    lines = lines or []
    attendees = attendees or []
    chunk_ids: dict[int, int] = dict(
        conn.execute(
            "SELECT ordinal, id FROM chunks WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id)
        ).fetchall()
    )
    # full names first, so a bare "Sarah" in the same note resolves to the "Sarah Chen" beside it
    refs = sorted({(o.name, o.kind, o.role) for it in items for o in it.owners}, key=lambda r: -len(r[0].split()))
    person_ids = {
        (name, kind): people.resolve(as_attendee(name, kind, attendees), kind, role) for name, kind, role in refs
    }
    pages = page_starts(lines)  # a converted PDF's: each item's page, for its citation
    with staged_copy(conn, "items", ITEM_COLUMNS) as write:
        for ordinal, (item, vector) in enumerate(zip(items, embeddings, strict=True)):
            chunk_ordinal = _chunk_for_line(chunks, item.line)
            write(
                {
                    "tenant_id": tenant,
                    "meeting_id": meeting_id,
                    "chunk_id": chunk_ids.get(chunk_ordinal) if chunk_ordinal is not None else None,
                    "ordinal": ordinal,
                    "kind": item.kind,
                    "text": item.text,
                    "detail": item.detail,
                    "owner_text": item.owner_text,
                    "status": item.status,
                    "status_text": item.status_text,
                    "due_start": item.due_start,
                    "due_date": item.due_date,
                    "due_text": item.due_text,
                    "source_line": item.line,
                    "line_fingerprint": line_fingerprint(lines[item.line]) if 0 <= item.line < len(lines) else None,
                    "evidence": item.evidence,
                    "embedding": vector,
                    "spoken_at": item.spoken_at,
                    "context": item.context,
                    "embed_text": item.embed_text,
                    "mentioned": list(item.mentioned),
                    "page": page_at(pages, item.line + 1),
                }
            )
    item_ids: dict[int, int] = dict(
        conn.execute(
            "SELECT ordinal, id FROM items WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id)
        ).fetchall()
    )
    owner_rows = [
        (tenant, item_ids[ordinal], person_ids[(o.name, o.kind)], position, o.written or o.name)
        for ordinal, item in enumerate(items)
        for position, o in enumerate(item.owners)
    ]
    if owner_rows:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO item_owners (tenant_id, item_id, person_id, position, written_as)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                owner_rows,
            )


# What each staged COPY writes: one (column, binary COPY type) table per target table.
CHUNK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "text"),
    ("meeting_id", "int8"),
    ("ordinal", "int4"),
    ("section_path", "text[]"),
    ("section_date", "date"),
    ("text", "text"),
    ("embed_text", "text"),
    ("token_count", "int4"),
    ("line_start", "int4"),
    ("line_end", "int4"),
    ("content_hash", "text"),
    ("embedding", "vector"),
    ("speakers", "text[]"),
    ("time_start", "float4"),
    ("time_end", "float4"),
    ("section_date_end", "date"),
    ("page", "int4"),
)
ITEM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "text"),
    ("meeting_id", "int8"),
    ("chunk_id", "int8"),
    ("ordinal", "int4"),
    ("kind", "text"),
    ("text", "text"),
    ("detail", "text"),
    ("owner_text", "text"),
    ("status", "text"),
    ("status_text", "text"),
    ("due_start", "date"),
    ("due_date", "date"),
    ("due_text", "text"),
    ("source_line", "int4"),
    ("evidence", "text"),
    ("embedding", "vector"),
    ("spoken_at", "float4"),
    ("context", "text"),
    ("line_fingerprint", "int8"),
    ("embed_text", "text"),
    ("mentioned", "text[]"),
    ("page", "int4"),
)
CHUNK_LINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "text"),
    ("meeting_id", "int8"),
    ("ordinal", "int4"),
    ("fingerprint", "int8"),
)


@contextmanager
def staged_copy(
    conn: psycopg.Connection, table: str, layout: tuple[tuple[str, str], ...]
) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Binary COPY into `table` through a temporary table: PostgreSQL refuses COPY FROM into a
    table under row-level security, and INSERT … SELECT still has every row checked by it.
    Yields a writer taking one row as {column: value}."""
    stage = f"stage_{table}"
    columns = ", ".join(name for name, _ in layout)
    if on_citus(conn):  # Citus runs INSERT … SELECT from a local table as a COPY, which RLS refuses
        rows: list[list[Any]] = []
        yield lambda row: rows.append([row[name] for name, _ in layout])
        values = ", ".join(["%s"] * len(layout))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({values})", rows)
        return
    conn.execute(f"DROP TABLE IF EXISTS pg_temp.{stage}")
    conn.execute(f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")
    with conn.cursor() as cur, cur.copy(f"COPY {stage} ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types([kind for _, kind in layout])
        yield lambda row: copy.write_row([row[name] for name, _ in layout])
    conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage}")


def copy_chunks(
    conn: psycopg.Connection, *, tenant: str, meeting_id: int, chunks: list[Chunk], embeddings: np.ndarray
) -> None:
    with staged_copy(conn, "chunks", CHUNK_COLUMNS) as write:
        for chunk, vector in zip(chunks, embeddings, strict=True):
            write(
                {
                    "tenant_id": tenant,
                    "meeting_id": meeting_id,
                    "ordinal": chunk.ordinal,
                    "section_path": list(chunk.section_path),
                    "section_date": chunk.section_date,
                    "text": chunk.text,
                    "embed_text": chunk.embed_text,
                    "token_count": chunk.token_count,
                    "line_start": chunk.line_start,
                    "line_end": chunk.line_end,
                    "content_hash": chunk.content_hash,
                    "embedding": vector,
                    "speakers": list(chunk.speakers),
                    "time_start": chunk.time_start,
                    "time_end": chunk.time_end,
                    "section_date_end": chunk.section_date_end,
                    "page": chunk.page,
                }
            )
    record_note_words(conn, tenant=tenant, meeting_id=meeting_id)  # whatever wrote the passages


def copy_chunk_lines(conn: psycopg.Connection, *, tenant: str, meeting_id: int, chunks: list[Chunk]) -> None:
    with staged_copy(conn, "chunk_lines", CHUNK_LINE_COLUMNS) as write:
        for chunk in chunks:
            for fingerprint in fingerprints(chunk.text):
                write(
                    {
                        "tenant_id": tenant,
                        "meeting_id": meeting_id,
                        "ordinal": chunk.ordinal,
                        "fingerprint": fingerprint,
                    }
                )


def schema_embedding_dim(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def remove_note(conn: psycopg.Connection, *, tenant: str, source: str) -> int | None:
    """Delete the meeting stored for `source` (a note whose file is gone): its chunks, items and
    attendance go with it by foreign key, answers citing its chunks by their trigger, and its line
    fingerprints (no foreign key) here. The id it had, or None when nothing was stored for that
    source. The caller's transaction makes it atomic."""
    lock_source(conn, tenant, source)
    row = conn.execute("SELECT id FROM meetings WHERE tenant_id = %s AND source = %s", (tenant, source)).fetchone()
    if row is None:
        return None
    meeting_id: int = row[0]
    clear_extraction(conn, tenant=tenant, meeting_id=meeting_id, same_fingerprints=False)
    conn.execute("DELETE FROM meetings WHERE tenant_id = %s AND id = %s", (tenant, meeting_id))
    return meeting_id
