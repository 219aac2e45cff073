"""Read stored notes again with today's extractor, keeping their chunks and embeddings.

When the extraction modules change (`store.extractor_version()`), what was read from the notes
already stored (items and owners, people, attendance, dates, line fingerprints) is out of date
while their passages are not. Re-extraction parses each stored note's raw text again and
replaces what was read from it, one transaction per meeting; the chunks and their vectors stay,
and an item whose text is unchanged keeps its vector. Only when the note would now be cut into
other passages are its chunks re-embedded (that note alone), and the report names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.dates import numeric_order_votes, prevailing_order
from minutebook.core.embedder import Embedder
from minutebook.core.errors import DatabaseError, IngestError
from minutebook.ingest.chunk import Chunk
from minutebook.ingest.extract import ExtractedItem
from minutebook.ingest.pipeline import (
    IngestOptions,
    batch_people,
    known_people,
    parse_one,
    prepare_note,
    tenant_numeric_order,
)
from minutebook.ingest.reader import NoteText
from minutebook.ingest.redate import given_dates
from minutebook.ingest.store import (
    clear_extraction,
    copy_chunks,
    extractor_version,
    fingerprints_as_stored,
    lock_source,
    store_extraction,
    update_reading,
)


@dataclass
class ReextractReport:
    tenant: str
    version: str  # the extraction version the notes were read with
    meetings: int = 0  # meetings to re-read
    reextracted: int = 0  # re-read, chunks and embeddings kept
    reembedded: list[str] = field(default_factory=list)  # cut into other passages: re-embedded, named
    failed: list[str] = field(default_factory=list)  # "source: reason"; the meeting is left as it was
    items: int = 0  # items stored
    items_embedded: int = 0  # items whose text was new, so embedded (the rest kept their vector)
    # whether stored line fingerprints are today's (checked on the first note, then assumed of all)
    same_fingerprints: bool | None = None
    people_removed: int = 0  # people no meeting names any more
    seconds: float = 0.0


def outdated_meetings(conn: psycopg.Connection, tenant: str, *, everything: bool = False) -> list[tuple[int, str]]:
    """(id, source) of the tenant's meetings read by another extraction version (all with `everything`)."""
    rows = conn.execute(
        """SELECT id, source FROM meetings
           WHERE tenant_id = %s AND (%s OR extractor_version IS DISTINCT FROM %s) ORDER BY id""",
        (tenant, everything, extractor_version()),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def outdated_by_tenant(conn: psycopg.Connection) -> dict[str, int]:
    """Meetings read by another extraction version, per tenant: needs a role that sees every
    tenant (the embedded server's owner does); under row-level security, the current tenant's."""
    rows = conn.execute(
        """SELECT tenant_id, count(*) FROM meetings WHERE extractor_version IS DISTINCT FROM %s
           GROUP BY 1 ORDER BY 1""",
        (extractor_version(),),
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def reextract(
    pool: ConnectionPool,
    embedder: Embedder,
    *,
    tenant: str,
    max_tokens: int = 230,
    everything: bool = False,
    on_found: Callable[[int], None] | None = None,
    on_meeting_done: Callable[[str], None] | None = None,
) -> ReextractReport:
    """Re-read the tenant's stored notes whose extraction version is not today's (every note with
    `everything`), one transaction per meeting. `max_tokens` must be the chunk bound the notes
    were ingested with, or every note looks re-cut."""
    started = time.perf_counter()
    report = ReextractReport(tenant=tenant, version=extractor_version())
    with tenant_transaction(pool, tenant) as conn:
        todo = outdated_meetings(conn, tenant, everything=everything)
    report.meetings = len(todo)
    if on_found:
        on_found(len(todo))
    for meeting_id, source in todo:
        try:
            with tenant_transaction(pool, tenant) as conn:
                _reextract_one(conn, embedder, tenant, meeting_id, max_tokens, everything, report)
        except IngestError as exc:
            report.failed.append(str(exc) if str(exc).startswith(source) else f"{source}: {exc}")
        except (psycopg.Error, DatabaseError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            report.failed.append(f"{source}: database error, left as it was ({reason})")
        except Exception as exc:  # an extractor bug must not stop the others; name the note
            report.failed.append(f"{source}: could not be parsed ({exc!r})")
        if on_meeting_done:
            on_meeting_done(source)
    if todo:
        with tenant_transaction(pool, tenant) as conn:
            report.people_removed = remove_unnamed_people(conn, tenant)
    report.seconds = time.perf_counter() - started
    return report


def remove_unnamed_people(conn: psycopg.Connection, tenant: str) -> int:
    """People no item owner and no attendance names any more (an earlier extractor's misreading,
    such as "All" taken for a person): they would otherwise go on counting as known names."""
    cur = conn.execute(
        """DELETE FROM people p WHERE p.tenant_id = %(tenant)s
             AND NOT EXISTS (SELECT 1 FROM item_owners o WHERE o.tenant_id = %(tenant)s AND o.person_id = p.id)
             AND NOT EXISTS (SELECT 1 FROM meeting_attendees a
                             WHERE a.tenant_id = %(tenant)s AND a.person_id = p.id)""",
        {"tenant": tenant},
    )
    return cur.rowcount


def _reextract_one(
    conn: psycopg.Connection,
    embedder: Embedder,
    tenant: str,
    meeting_id: int,
    max_tokens: int,
    everything: bool,
    report: ReextractReport,
) -> None:
    row = conn.execute(
        """SELECT source, raw_text, encoding, date_start, date_source, ingested_at, extractor_version
           FROM meetings WHERE tenant_id = %s AND id = %s""",
        (tenant, meeting_id),
    ).fetchone()
    if row is None:  # deleted meanwhile
        return
    source, raw, encoding, stored_date, date_source, ingested_at, version = row
    lock_source(conn, tenant, source)  # an ingest of the same note waits, and vice versa
    if version == extractor_version() and not everything:
        return  # read again by another writer meanwhile
    # a note dated by its file's time (a transcript) keeps that date: the file is not at hand now
    modified = stored_date if date_source == "file" and isinstance(stored_date, date) else None
    note = NoteText(source, PurePath(source).name, raw, encoding, modified=modified)
    # read as the ingest read it: against the day it was ingested, with the file's date when that
    # was what dated it
    options = IngestOptions(tenant=tenant, max_tokens=max_tokens, today=ingested_at.date())
    votes = numeric_order_votes(raw)
    parsed = parse_one(
        note,
        options,
        numeric_order=tenant_numeric_order(conn, tenant, [votes]),
        given=given_dates(conn, tenant, [source]).get(source),
    )
    parsed.date_order = prevailing_order(votes)
    people = frozenset(known_people(conn, tenant) | batch_people([parsed]))
    prepared = prepare_note(note, parsed, embedder, options, people)
    same_chunks = _stored_chunks(conn, tenant, meeting_id) == [_chunk_key(c) for c in prepared.chunks]
    item_vectors = _item_vectors(conn, embedder, tenant, meeting_id, prepared.items, report)
    if report.same_fingerprints is None:  # one note tells whether the fingerprint itself changed
        report.same_fingerprints = fingerprints_as_stored(conn, tenant=tenant, meeting_id=meeting_id)
    clear_extraction(conn, tenant=tenant, meeting_id=meeting_id, same_fingerprints=report.same_fingerprints)
    if not same_chunks:  # cut into other passages: their vectors cannot be kept
        conn.execute("DELETE FROM chunks WHERE tenant_id = %s AND meeting_id = %s", (tenant, meeting_id))
        vectors = embedder.encode([c.embed_text for c in prepared.chunks])
        copy_chunks(conn, tenant=tenant, meeting_id=meeting_id, chunks=prepared.chunks, embeddings=vectors)
        report.reembedded.append(source)
    else:
        _keep_pages(conn, tenant, meeting_id, prepared.chunks)
    store_extraction(
        conn,
        tenant=tenant,
        meeting_id=meeting_id,
        parsed=parsed,
        chunks=prepared.chunks,
        items=prepared.items,
        item_embeddings=item_vectors,
    )
    update_reading(conn, tenant=tenant, meeting_id=meeting_id, parsed=parsed)
    report.items += len(prepared.items)
    if same_chunks:
        report.reextracted += 1


def _chunk_key(c: Chunk) -> tuple[int, str, int, int]:
    return (c.ordinal, c.content_hash, c.line_start, c.line_end)


def _keep_pages(conn: psycopg.Connection, tenant: str, meeting_id: int, chunks: list[Chunk]) -> None:
    """Kept passages take the page they start on as today's chunking reads it (a PDF's passages
    stored before their pages were), so a re-extraction fills pages as an ingest does."""
    rows = [(c.page, tenant, meeting_id, c.ordinal, c.page) for c in chunks if c.page is not None]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                """UPDATE chunks SET page = %s
                   WHERE tenant_id = %s AND meeting_id = %s AND ordinal = %s AND page IS DISTINCT FROM %s""",
                rows,
            )


def _stored_chunks(conn: psycopg.Connection, tenant: str, meeting_id: int) -> list[tuple[int, str, int, int]]:
    rows = conn.execute(
        """SELECT ordinal, content_hash, line_start, line_end FROM chunks
           WHERE tenant_id = %s AND meeting_id = %s ORDER BY ordinal""",
        (tenant, meeting_id),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _item_vectors(
    conn: psycopg.Connection,
    embedder: Embedder,
    tenant: str,
    meeting_id: int,
    items: list[ExtractedItem],
    report: ReextractReport,
) -> np.ndarray | None:
    """A vector per item: the stored one when an item of this meeting had the same text, else new."""
    if not items:
        return None
    stored: dict[str, object] = dict(
        conn.execute(
            """SELECT embed_text, embedding FROM items
               WHERE tenant_id = %s AND meeting_id = %s AND embed_text IS NOT NULL""",
            (tenant, meeting_id),
        ).fetchall()
    )
    missing = sorted({i.embed_text for i in items if i.embed_text not in stored})
    if missing:
        stored.update(zip(missing, embedder.encode(missing), strict=True))
        report.items_embedded += len(missing)
    return np.stack([_array(stored[i.embed_text]) for i in items])


def _array(vector: object) -> np.ndarray:
    """A stored pgvector value (or a fresh one) as a float32 array."""
    to_numpy = getattr(vector, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else vector, dtype=np.float32)
