"""Ingest end to end: read → parse → chunk → embed (batched across notes) → store (one transaction a note)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.dates import DateMention, NumericOrder, numeric_order_votes, prevailing_order
from minutebook.core.embedder import Embedder
from minutebook.core.embedding_identity import check_identity
from minutebook.core.errors import ConfigError, DatabaseError, IngestError
from minutebook.ingest.chunk import Chunk, chunk_note
from minutebook.ingest.extract import ExtractedItem, extract_items
from minutebook.ingest.parse import ParsedNote, parse_note
from minutebook.ingest.reader import NoteText, expand_paths, read_note
from minutebook.ingest.redate import given_dates, set_meeting_date
from minutebook.ingest.spoken import extract_spoken
from minutebook.ingest.store import extractor_version, schema_embedding_dim, store_note

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ItemRead:
    """One item as the ingest read it, for the report."""

    kind: str
    text: str
    line: int  # 1-based
    owners: list[str]
    mentioned: list[str]  # named on its line but not read as its owner: "owner unclear"
    due: str | None


@dataclass(frozen=True)
class Understood:
    """What was read from one note: its date and where from, who attended, its items and owners,
    and the task-like lines (actions) that were given no owner."""

    title: str
    date: str | None  # ISO day, or "start..end" for a range, month or quarter
    date_text: str | None  # as written
    date_source: str | None  # given | front matter | date line | title | file name | …
    attendees: int
    items: list[ItemRead]
    owned: int  # actions with an owner
    unowned: int  # actions with none (some "owner unclear": their line names someone)


def understood(parsed: ParsedNote, items: Sequence[ExtractedItem]) -> Understood:
    start, end = parsed.date_start, parsed.date_end
    when = None if start is None else str(start) if end in (None, start) else f"{start}..{end}"
    read = [
        ItemRead(
            kind=i.kind,
            text=i.text,
            line=i.line + 1,
            owners=[o.name for o in i.owners],
            mentioned=[] if i.owners else list(i.mentioned),
            due=str(i.due_date) if i.due_date else None,
        )
        for i in items
    ]
    actions = [i for i in read if i.kind == "action"]
    return Understood(
        title=parsed.title,
        date=when,
        date_text=parsed.date_text,
        date_source=parsed.date_source,
        attendees=len(parsed.attendees),
        items=read,
        owned=sum(1 for i in actions if i.owners),
        unowned=sum(1 for i in actions if not i.owners),
    )


@dataclass
class FileOutcome:
    source: str
    status: str  # new | updated | unchanged | failed
    chunks: int = 0
    meeting_id: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    detail: str | None = None
    understood: Understood | None = None  # new and updated notes: what was read from them


@dataclass
class IngestReport:
    outcomes: list[FileOutcome]
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def chunks_written(self) -> int:
        return sum(o.chunks for o in self.outcomes if o.status in ("new", "updated"))

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class IngestOptions:
    tenant: str
    max_note_bytes: int = 5_000_000
    max_tokens: int = 230
    notes_per_batch: int = 128  # larger batches let the model sort by length and pad less
    today: date | None = None  # resolves yearless dates in notes that carry no date at all
    given_date: DateMention | None = None  # the user said when these notes' meeting was (`--date`)


@dataclass
class _Prepared:
    note: NoteText
    parsed: ParsedNote
    chunks: list[Chunk]
    items: list[ExtractedItem]

    @property
    def texts(self) -> list[str]:
        """Everything this note needs embedded: its chunks, then its items."""
        return [c.embed_text for c in self.chunks] + [i.embed_text for i in self.items]


def ingest_paths(
    pool: ConnectionPool,
    embedder: Embedder,
    patterns: Sequence[str],
    *,
    options: IngestOptions,
    on_file_done: Progress | None = None,
    on_files_found: Callable[[int], None] | None = None,
) -> IngestReport:
    started = time.perf_counter()
    files, missing = expand_paths(list(patterns))
    outcomes = [FileOutcome(p, "failed", error=f"{p}: {why}") for p, why in missing]
    if on_files_found:
        on_files_found(len(files))

    def read_all() -> Iterable[NoteText | FileOutcome]:
        for path in files:
            try:
                yield read_note(path, max_bytes=options.max_note_bytes)
            except IngestError as exc:
                yield FileOutcome(str(path), "failed", error=str(exc))

    outcomes += ingest_notes(pool, embedder, read_all(), options=options, on_file_done=on_file_done)
    return IngestReport(outcomes, time.perf_counter() - started)


def ingest_notes(
    pool: ConnectionPool,
    embedder: Embedder,
    notes: Iterable[NoteText | FileOutcome],
    *,
    options: IngestOptions,
    on_file_done: Progress | None = None,
) -> list[FileOutcome]:
    """Ingest already-read notes (failed reads pass through as outcomes), in batches.

    A writer thread stores one batch while the next one is embedded, so the database work
    hides behind the model instead of adding to it.
    """
    outcomes: list[FileOutcome] = []
    pending: deque[Future[list[FileOutcome]]] = deque()
    batch: list[NoteText] = []

    def drain(keep: int) -> None:
        while len(pending) > keep:
            for outcome in pending.popleft().result():
                outcomes.append(outcome)
                if on_file_done:
                    on_file_done(outcome.source)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="minutebook-writer") as writer:

        def flush() -> None:
            pending.append(writer.submit(_embed_batch(pool, embedder, batch, options)))
            batch.clear()
            drain(keep=1)  # at most one batch waits for the writer

        for item in notes:
            if isinstance(item, FileOutcome):
                drain(keep=0)  # keep outcomes in input order
                outcomes.append(item)
                if on_file_done:
                    on_file_done(item.source)
                continue
            batch.append(item)
            if len(batch) >= options.notes_per_batch:
                flush()
        if batch:
            flush()
        drain(keep=0)
    return outcomes


def check_embeddings(pool: ConnectionPool, embedder: Embedder) -> None:
    """Vectors of this embedder fit the store: its dimension, and the model and runtime the
    store's vectors were made with (recorded by the first ingest into an empty store)."""
    with pool.connection() as conn:
        expected = schema_embedding_dim(conn)
        if embedder.dim != expected:
            raise ConfigError(
                f"embedding model {embedder.name} makes {embedder.dim}-dimensional vectors but the database "
                f"stores {expected}; point MINUTEBOOK_EMBED_MODEL at a {expected}-dimensional model"
            )
        check_identity(conn, embedder.identity, legacy=embedder.identity_with("torch"))


def _already_stored(pool: ConnectionPool, tenant: str, notes: list[NoteText]) -> dict[str, FileOutcome]:
    """Notes whose exact content is stored already: skipped before paying for embeddings."""
    with tenant_transaction(pool, tenant) as conn:
        rows = conn.execute(
            """SELECT id, source, content_hash, extractor_version = %s FROM meetings
               WHERE tenant_id = %s AND (source = ANY(%s) OR content_hash = ANY(%s))""",
            (extractor_version(), tenant, [n.source for n in notes], [n.content_hash for n in notes]),
        ).fetchall()
    by_source = {r[1]: r for r in rows}
    by_hash = {r[2]: r for r in rows}
    found: dict[str, FileOutcome] = {}
    for n in notes:
        same_source = by_source.get(n.source)
        if same_source is not None:
            if same_source[2] == n.content_hash and same_source[3]:
                found[n.source] = FileOutcome(n.source, "unchanged", meeting_id=same_source[0])
        elif (other := by_hash.get(n.content_hash)) is not None:
            found[n.source] = FileOutcome(
                n.source, "unchanged", meeting_id=other[0], detail=f"same content as {other[1]}"
            )
    return found


def tenant_numeric_order(
    conn: psycopg.Connection, tenant: str, batch: Sequence[dict[NumericOrder, int]] = ()
) -> NumericOrder | None:
    """The day/month order this tenant writes numeric dates in: what its stored notes showed plus
    the votes of the batch being ingested (`numeric_order_votes` of each); None when nothing decides it."""
    votes: dict[str, int] = {"dmy": 0, "mdy": 0}
    for order, n in conn.execute(
        "SELECT date_order, count(*) FROM meetings WHERE tenant_id = %s AND date_order IS NOT NULL GROUP BY 1",
        (tenant,),
    ).fetchall():
        votes[order] += n
    for note_votes in batch:
        for order, n in note_votes.items():
            votes[order] += n
    return prevailing_order(votes)


def known_people(conn: psycopg.Connection, tenant: str) -> frozenset[str]:
    """Every name, first name and handle the tenant's attendees go by, lower-cased: a commitment's
    subject written as a handle in one note is a person because another note listed them. Only
    people some note lists as present: a person made from an owner line may be a misreading
    ("Desktop: NPM on IPFS"), and counting them would let it confirm itself on every re-read."""
    rows = conn.execute(
        """SELECT key, aliases FROM people p
           WHERE tenant_id = %(tenant)s AND kind = 'person'
             AND EXISTS (SELECT 1 FROM meeting_attendees a WHERE a.tenant_id = %(tenant)s AND a.person_id = p.id)""",
        {"tenant": tenant},
    ).fetchall()
    names = {n for key, aliases in rows for n in [key, *aliases]}
    return frozenset(names | {n.split()[0] for n in names if " " in n})


def parse_one(
    note: NoteText,
    options: IngestOptions,
    *,
    numeric_order: NumericOrder | None = None,
    given: DateMention | None = None,
) -> ParsedNote:
    parsed = parse_note(
        note.text,
        note.name,
        reference=options.today,
        modified=note.modified,
        given=options.given_date or given,
        numeric_order=numeric_order,
    )
    note.warnings.extend(w for w in parsed.warnings if w not in note.warnings)
    return parsed


def prepare_note(
    note: NoteText, parsed: ParsedNote, embedder: Embedder, options: IngestOptions, people: frozenset[str] = frozenset()
) -> _Prepared:
    chunks = chunk_note(parsed, embedder.count_tokens, max_tokens=options.max_tokens)
    if not chunks:
        raise IngestError(f"{note.source}: has no text to index besides its title")
    items = extract_spoken(parsed) if parsed.turns else extract_items(parsed, people)
    return _Prepared(note, parsed, chunks, items)


def batch_people(parsed: list[ParsedNote]) -> set[str]:
    """Names and handles the batch's own attendance lists give: a note's "simulacrum to …" is a
    commitment when another note of the batch lists simulacrum as present."""
    return {n.lower() for p in parsed for a in p.attendees for n in (a.name, a.handle) if n and a.kind == "person"}


def _embed_batch(
    pool: ConnectionPool, embedder: Embedder, notes: list[NoteText], options: IngestOptions
) -> Callable[[], list[FileOutcome]]:
    """Parse, chunk and embed a batch; return the work that stores it (run on the writer)."""
    notes = list(notes)
    results: dict[str, FileOutcome] = {}
    try:
        results.update(_already_stored(pool, options.tenant, notes))
        with tenant_transaction(pool, options.tenant) as conn:
            votes = {n.source: numeric_order_votes(n.text) for n in notes if n.source not in results}
            order = tenant_numeric_order(conn, options.tenant, list(votes.values()))
            given = given_dates(conn, options.tenant, [n.source for n in notes])
            people = set(known_people(conn, options.tenant))
            if options.given_date is not None:
                _redate_unchanged(conn, options.tenant, results, options.given_date)
    except psycopg.Error as exc:
        failed = [FileOutcome(n.source, "failed", error=f"{n.source}: database error: {exc}") for n in notes]
        return lambda: failed
    parsed: list[tuple[NoteText, ParsedNote]] = []
    for note in notes:
        if note.source in results:
            continue
        try:
            one = parse_one(note, options, numeric_order=order, given=given.get(note.source))
            one.date_order = prevailing_order(votes[note.source])  # this note's own evidence, stored for later
            parsed.append((note, one))
        except IngestError as exc:  # a malformed transcript, a note too complex to parse: its own reason
            results[note.source] = FileOutcome(note.source, "failed", error=str(exc), warnings=note.warnings)
        except Exception as exc:  # a parser bug must not sink the batch; name the file
            results[note.source] = FileOutcome(
                note.source, "failed", error=f"{note.source}: could not be parsed ({exc!r})"
            )
    people = people | batch_people([p for _, p in parsed])
    prepared: list[_Prepared] = []
    for note, one in parsed:
        try:
            prepared.append(prepare_note(note, one, embedder, options, frozenset(people)))
        except IngestError as exc:
            results[note.source] = FileOutcome(note.source, "failed", error=str(exc), warnings=note.warnings)
        except Exception as exc:  # an extractor bug must not sink the batch; name the file
            results[note.source] = FileOutcome(
                note.source, "failed", error=f"{note.source}: could not be parsed ({exc!r})"
            )
    texts = [t for p in prepared for t in p.texts]
    if texts:
        check_embeddings(pool, embedder)
        vectors = embedder.encode(texts)
    else:
        vectors = np.zeros((0, 0), dtype=np.float32)

    def store() -> list[FileOutcome]:
        offset = 0
        for p in prepared:
            own = vectors[offset : offset + len(p.texts)]
            offset += len(p.texts)
            results[p.note.source] = _store_one(pool, options.tenant, p, own)
        return [results[n.source] for n in notes]

    return store


def _redate_unchanged(
    conn: psycopg.Connection, tenant: str, results: dict[str, FileOutcome], given: DateMention
) -> None:
    """`ingest --date` on notes stored already: their text did not change, their date does."""
    for outcome in results.values():
        if outcome.meeting_id is None or outcome.detail:  # a copy of another note keeps that note's date
            continue
        stored = conn.execute(
            "SELECT date_start, date_end FROM meetings WHERE tenant_id = %s AND id = %s", (tenant, outcome.meeting_id)
        ).fetchone()
        if stored is not None and (stored[0], stored[1]) != (given.start, given.end):
            set_meeting_date(conn, tenant, outcome.meeting_id, given)
            outcome.status, outcome.detail = "updated", f"dated {given.text}"


def _store_one(pool: ConnectionPool, tenant: str, p: _Prepared, vectors: np.ndarray) -> FileOutcome:
    try:
        with tenant_transaction(pool, tenant) as conn:
            n = len(p.chunks)
            stored = store_note(
                conn,
                tenant=tenant,
                note=p.note,
                parsed=p.parsed,
                chunks=p.chunks,
                embeddings=vectors[:n],
                items=p.items,
                item_embeddings=vectors[n:],
            )
    except (psycopg.Error, DatabaseError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return FileOutcome(
            p.note.source, "failed", error=f"{p.note.source}: database error, nothing written ({reason})"
        )
    changed = stored.status != "unchanged"
    return FileOutcome(
        p.note.source,
        stored.status,
        chunks=len(p.chunks) if changed else 0,
        meeting_id=stored.meeting_id,
        warnings=p.note.warnings,
        detail=stored.detail,
        understood=understood(p.parsed, p.items) if changed else None,
    )
