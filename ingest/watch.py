"""A watched folder: ingest the notes in it, then every note added, changed or deleted there.

`watchfiles` reports changes, gathered until the folder has been quiet a moment (debounced). Each
changed path is judged by what is there now, not by the kind of event: an editor that saves by
deleting and re-creating a file changed a note, it did not delete it. A note still there goes
through the normal ingest (unchanged content is skipped, changed content replaces its meeting in
one transaction); a note gone has its meeting removed only when the caller's policy allows it.
Deletions are handled before additions, so a note renamed within one batch keeps a meeting.

The watcher starts before the first pass over the folder, so nothing written meanwhile is missed.
Nothing here prints or prompts: each change is one `WatchEvent` for the caller to show, and the
caller answers the "remove these meetings?" question.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Literal, cast

import psycopg
from psycopg_pool import ConnectionPool
from watchfiles import Change, watch

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import MinutebookError
from minutebook.ingest.pipeline import FileOutcome, IngestOptions, ingest_paths
from minutebook.ingest.reader import NOTE_EXTENSIONS, expand_paths
from minutebook.ingest.reextract import remove_unnamed_people
from minutebook.ingest.store import remove_note

OnDelete = Literal["remove", "keep", "ask"]
ON_DELETE: tuple[OnDelete, ...] = ("remove", "keep", "ask")

# A change is read once the folder has been quiet this long: an editor's save is often several
# writes, and a file being copied in grows for a while.
QUIET_MS = 500
# ... but a file written to without pause is still read this many quiet periods after its first change.
MOST_QUIET_PERIODS = 4
# How often the watcher wakes when nothing changes: the first wake starts the first pass.
IDLE_WAKE_MS = 250

# Editors' and office suites' temporary, lock, swap and backup files: `~$minutes.docx` (Word),
# `#notes.md#` (Emacs), `notes.md.swp` (Vim), `notes.md~`, `notes.md.tmp`, partial downloads.
# Hidden names (`.#notes.md`, `.~lock.minutes.docx#`) are skipped before this is asked.
EDITOR_TEMP = re.compile(r"^~\$|^#.*#$|~$|\.(sw[a-p]|tmp|temp|bak|part|crdownload)$", re.IGNORECASE)


def ignored_name(name: str) -> bool:
    """A hidden file or directory, or an editor's temporary or lock file: never a note."""
    return name.startswith(".") or EDITOR_TEMP.search(name) is not None


def is_note_file(path: Path) -> bool:
    """A file the watch ingests: a note extension (`NOTE_EXTENSIONS`) and a name not ignored."""
    return not ignored_name(path.name) and path.suffix.lower() in NOTE_EXTENSIONS


@dataclass(frozen=True)
class NoteChanges:
    """The watch filter: changes to note files under `root` (none inside a hidden directory), a
    directory moved in (its notes are read) and a path without an extension deleted (perhaps a
    directory: the meetings of notes under it are the deleted ones)."""

    root: Path

    def __call__(self, change: Change, path: str) -> bool:
        entry = Path(path)
        try:
            parts = entry.relative_to(self.root).parts
        except ValueError:
            return False
        if not parts or any(ignored_name(p) for p in parts):
            return False
        if entry.suffix.lower() in NOTE_EXTENSIONS:
            return True
        if change == Change.added:
            return entry.is_dir()
        return change == Change.deleted and not entry.suffix


@dataclass(frozen=True)
class WatchSettings:
    on_delete: OnDelete = "keep"  # remove | keep | ask (the caller's `confirm_removal` answers)
    quiet_ms: int = QUIET_MS


# What a WatchEvent reports: a note ingested (new, updated, unchanged, failed), a deleted note's
# meeting removed or kept, a deleted note nothing was stored for (gone); and the watch itself
# (reading: the first pass starts; watching: it is done and changes are awaited).
EventKind = Literal["new", "updated", "unchanged", "failed", "removed", "kept", "gone", "reading", "watching"]


@dataclass
class WatchSummary:
    """What the watch did, first pass included."""

    ingested: int = 0  # new or updated
    unchanged: int = 0
    removed: int = 0
    kept: int = 0  # deleted notes whose meeting stays
    errors: int = 0

    def count(self, kind: EventKind) -> None:
        if kind in ("new", "updated"):
            self.ingested += 1
        elif kind == "unchanged":
            self.unchanged += 1
        elif kind == "removed":
            self.removed += 1
        elif kind == "kept":
            self.kept += 1
        elif kind == "failed":
            self.errors += 1


@dataclass(frozen=True)
class WatchEvent:
    kind: EventKind
    path: str  # the note's path (absolute), or the folder's for reading/watching
    outcome: FileOutcome | None = None  # what the ingest said, for a note ingested
    meeting_id: int | None = None  # removed or kept: the deleted note's meeting
    detail: str | None = None  # failed: why; kept: why ("on-delete keep" or "not confirmed")
    notes: int | None = None  # reading: how many notes the folder holds
    first_pass: bool = False  # from the pass over what the folder held when the watch began
    summary: WatchSummary | None = None  # watching: the first pass's counts


def watch_folder(
    pool: ConnectionPool,
    embedder: Embedder,
    folder: Path,
    *,
    options: IngestOptions,
    settings: WatchSettings,
    on_event: Callable[[WatchEvent], None],
    confirm_removal: Callable[[Sequence[str]], bool] = lambda _sources: False,
    stop_event: threading.Event | None = None,
) -> WatchSummary:
    """Ingest the notes in `folder`, then follow its changes until `stop_event` is set or Ctrl-C
    (KeyboardInterrupt) ends it; a note being stored then is stored whole or not at all.

    With `on_delete="ask"`, `confirm_removal` gets the sources of the notes deleted together
    whose meetings are stored and says whether to remove those meetings."""
    root = folder.resolve(strict=True)
    summary = WatchSummary()

    def emit(event: WatchEvent) -> None:
        summary.count(event.kind)
        on_event(event)

    started = False
    try:
        for changes in watch(
            root,
            watch_filter=NoteChanges(root),
            step=settings.quiet_ms,
            debounce=settings.quiet_ms * MOST_QUIET_PERIODS,
            rust_timeout=IDLE_WAKE_MS,
            yield_on_timeout=True,
            stop_event=stop_event,
        ):
            if not started:  # the watcher is live: what the folder holds now is read once
                started = True
                files = note_files([root])
                if files:
                    emit(WatchEvent("reading", str(root), notes=len(files)))
                for event in _ingest(pool, embedder, files, options, first_pass=True):
                    emit(event)
                emit(WatchEvent("watching", str(root), summary=replace(summary)))
                changes = {c for c in changes if c[0] == Change.deleted}  # the rest was just read as it is
            if changes:
                for event in _apply(pool, embedder, changes, options, settings, confirm_removal):
                    emit(event)
    except KeyboardInterrupt:
        pass
    return summary


def note_files(paths: Iterable[Path]) -> list[Path]:
    """The note files named or found under directories (as `ingest` finds them), less ignored names."""
    files, _missing = expand_paths([str(p) for p in paths])
    return [f for f in files if is_note_file(f)]


def _apply(
    pool: ConnectionPool,
    embedder: Embedder,
    changes: set[tuple[Change, str]],
    options: IngestOptions,
    settings: WatchSettings,
    confirm_removal: Callable[[Sequence[str]], bool],
) -> Iterable[WatchEvent]:
    """One batch of changes: paths gone first (their meetings, as the policy says), then what is there."""
    paths = sorted({Path(p) for _, p in changes})
    gone = [p for p in paths if not p.exists()]
    yield from _removed(pool, gone, options.tenant, settings, confirm_removal)
    present = note_files(p for p in paths if p.exists())
    yield from _ingest(pool, embedder, present, options, first_pass=False)


def _ingest(
    pool: ConnectionPool, embedder: Embedder, files: list[Path], options: IngestOptions, *, first_pass: bool
) -> Iterable[WatchEvent]:
    if not files:
        return
    if options.today is not None:  # a watch outlives the day it began
        options = replace(options, today=date.today())
    report = ingest_paths(pool, embedder, [str(f) for f in files], options=options)
    for outcome in report.outcomes:
        kind = cast(EventKind, outcome.status)  # new | updated | unchanged | failed
        yield WatchEvent(kind, outcome.source, outcome=outcome, detail=outcome.error, first_pass=first_pass)


def _removed(
    pool: ConnectionPool,
    gone: list[Path],
    tenant: str,
    settings: WatchSettings,
    confirm_removal: Callable[[Sequence[str]], bool],
) -> Iterable[WatchEvent]:
    """Deleted notes (or directories of notes): remove their meetings, or keep them, as the policy says."""
    if not gone:
        return
    stored: dict[str, int] = {}
    nothing: list[WatchEvent] = []
    try:
        with tenant_transaction(pool, tenant) as conn:
            for path in gone:
                found = stored_under(conn, tenant, path)
                if not found and path.suffix.lower() in NOTE_EXTENSIONS:
                    nothing.append(WatchEvent("gone", str(path)))
                stored.update(found)
    except (psycopg.Error, MinutebookError) as exc:
        for path in gone:
            yield WatchEvent("failed", str(path), detail=f"{path}: deleted, but {_database_error(exc)}")
        return
    yield from nothing
    if not stored:
        return
    sources = sorted(stored)
    if settings.on_delete == "remove":
        remove = True
    elif settings.on_delete == "ask":
        remove = confirm_removal(sources)
    else:
        remove = False
    if not remove:
        why = "not confirmed" if settings.on_delete == "ask" else "on-delete keep"
        for source in sources:
            yield WatchEvent("kept", source, meeting_id=stored[source], detail=why)
        return
    removed = False
    for source in sources:
        try:
            with tenant_transaction(pool, tenant) as conn:
                meeting_id = remove_note(conn, tenant=tenant, source=source)
        except (psycopg.Error, MinutebookError) as exc:
            yield WatchEvent("failed", source, detail=f"{source}: deleted, but {_database_error(exc)}")
            continue
        if meeting_id is not None:  # None: someone else removed it meanwhile
            removed = True
            yield WatchEvent("removed", source, meeting_id=meeting_id)
    if removed:
        try:
            with tenant_transaction(pool, tenant) as conn:  # people only those notes named
                remove_unnamed_people(conn, tenant)
        except (psycopg.Error, MinutebookError):
            pass  # `minutebook reextract` clears them too; the meetings are gone either way


def _database_error(exc: Exception) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"its meeting was not removed: database error ({reason})"


def stored_under(conn: psycopg.Connection, tenant: str, path: Path) -> dict[str, int]:
    """{source: meeting id} of the notes stored from `path`: the note itself, or every note under
    it when it was a directory."""
    rows = conn.execute(
        """SELECT source, id FROM meetings
           WHERE tenant_id = %(tenant)s AND (source = %(path)s OR starts_with(source, %(prefix)s))""",
        {"tenant": tenant, "path": str(path), "prefix": str(path) + os.sep},
    ).fetchall()
    return {source: meeting_id for source, meeting_id in rows}
