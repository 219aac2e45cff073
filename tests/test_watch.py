"""`minutebook ingest --watch DIR`: driven by real file changes in a scratch folder.

Nothing here assumes how fast the machine is: each step waits (up to WAIT seconds) for the event
it caused, and a short debounce only keeps the suite quick.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from minutebook.api.cli import app as cli_app
from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.ingest.pipeline import IngestOptions
from minutebook.ingest.watch import (
    OnDelete,
    WatchEvent,
    WatchSettings,
    WatchSummary,
    ignored_name,
    is_note_file,
    watch_folder,
)
from minutebook.search.hybrid import hybrid_search

WAIT = 120.0  # seconds an event may take on a slow machine; a fast one never waits that long
QUIET_MS = 50

NOTE_V1 = """# Vendor sync, 2024-03-04

Attendees: Alice Moreau, Bob Tan

## Actions
- Alice to renegotiate the freight contract with Harbourline by March 20
"""

NOTE_V2 = """# Vendor sync, 2024-03-04

Attendees: Alice Moreau, Bob Tan

## Actions
- Bob to audit the warehouse sprinkler inspection records and the fire exits by March 22
"""

OTHER = """# Design review, 2024-03-05

Attendees: Chen Wu

## Decisions
- The onboarding wizard ships without the pricing step
"""


@dataclass
class Watcher:
    """A running watch: its events as they come, and how to stop it."""

    events: queue.Queue[WatchEvent]
    stop: threading.Event
    thread: threading.Thread
    asked: list[list[str]] = field(default_factory=list)
    seen: list[WatchEvent] = field(default_factory=list)
    summary: WatchSummary | None = None

    def wait_for(self, kind: str, name: str | None = None) -> WatchEvent:
        """The next event of this kind (for this file name), whatever else comes first."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=1)
            except queue.Empty:
                assert self.thread.is_alive(), f"the watch ended; it saw {self.seen}"
                continue
            self.seen.append(event)
            if event.kind == kind and (name is None or Path(event.path).name == name):
                return event
        raise AssertionError(f"no {kind} {name or ''} event in {WAIT} s; saw {self.seen}")

    def since(self, event: WatchEvent) -> list[WatchEvent]:
        return self.seen[self.seen.index(event) + 1 :]


@contextmanager
def watching(
    pool: ConnectionPool,
    embedder: Embedder,
    folder: Path,
    options: IngestOptions,
    on_delete: OnDelete = "keep",
    answer: bool = False,
) -> Iterator[Watcher]:
    events: queue.Queue[WatchEvent] = queue.Queue()
    stop = threading.Event()
    w = Watcher(events, stop, threading.Thread())

    def confirm(sources: Sequence[str]) -> bool:
        w.asked.append([Path(s).name for s in sources])
        return answer

    def run() -> None:
        w.summary = watch_folder(
            pool,
            embedder,
            folder,
            options=options,
            settings=WatchSettings(on_delete=on_delete, quiet_ms=QUIET_MS),
            on_event=events.put,
            confirm_removal=confirm,
            stop_event=stop,
        )

    w.thread = threading.Thread(target=run, name="watch", daemon=True)
    w.thread.start()
    try:
        yield w
    finally:
        stop.set()
        w.thread.join(WAIT)
    assert not w.thread.is_alive(), "the watch did not stop when asked"


def put(path: Path, content: str | bytes) -> None:
    """Write a file as most editors save one: a hidden temporary file renamed over it, so the
    watch never sees it empty or half-written (the temporary file is ignored)."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(content.encode() if isinstance(content, str) else content)
    os.replace(temp, path)


def overwrite(path: Path, content: str) -> None:
    """Change a file in place, as some editors do, in one write that replaces all its bytes (the
    new content is the longer), so the watch never reads it half-written."""
    data = content.encode()
    assert len(data) >= path.stat().st_size
    with path.open("r+b", buffering=0) as f:
        f.write(data)


def stored(pool: ConnectionPool, tenant: str) -> dict[str, str]:
    """{file name: the text of its chunks} of every stored meeting."""
    with tenant_transaction(pool, tenant) as conn:
        rows = conn.execute(
            """SELECT m.source, string_agg(c.text, E'\\n' ORDER BY c.ordinal) FROM meetings m
               LEFT JOIN chunks c ON c.meeting_id = m.id WHERE m.tenant_id = %s GROUP BY m.source""",
            (tenant,),
        ).fetchall()
    return {Path(source).name: text or "" for source, text in rows}


def top_hit(pool: ConnectionPool, embedder: Embedder, tenant: str, question: str) -> str:
    with tenant_transaction(pool, tenant) as conn:
        hits = hybrid_search(conn, embedder.encode_one(question), question, tenant=tenant, k=1)
    return hits[0].text if hits else ""


def test_editor_temp_and_hidden_files_are_not_notes() -> None:
    for name in ("~$minutes.md", ".#notes.md", "notes.md~", "notes.md.swp", "#notes.md#", ".hidden.md", "x.md.tmp"):
        assert not is_note_file(Path(name)), name
    for name in ("2024-03-04.md", "standup.TXT", "call.vtt"):
        assert is_note_file(Path(name)) and not ignored_name(name), name
    assert not is_note_file(Path("budget.xlsx"))


def test_watch_ingests_replaces_reports_and_removes(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tenant: str, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    put(folder / "design.md", OTHER)
    with watching(pool, embedder, folder, options, on_delete="remove") as w:
        first = w.wait_for("new", "design.md")
        assert first.first_pass
        ready = w.wait_for("watching")
        assert ready.summary is not None and ready.summary.ingested == 1

        note = folder / "vendor.md"
        put(note, NOTE_V1)
        new = w.wait_for("new", "vendor.md")
        assert new.outcome is not None and new.outcome.understood is not None
        [item] = new.outcome.understood.items
        assert "Harbourline" in item.text and item.owners
        assert "Harbourline" in stored(pool, tenant)["vendor.md"]
        assert "Harbourline" in top_hit(pool, embedder, tenant, "freight contract renegotiation")

        overwrite(note, NOTE_V2)  # the same note, changed in place: its meeting is replaced, not doubled
        w.wait_for("updated", "vendor.md")
        now = stored(pool, tenant)
        assert sorted(now) == ["design.md", "vendor.md"]
        assert "sprinkler" in now["vendor.md"] and "Harbourline" not in now["vendor.md"]

        put(folder / "scan.md", bytes(range(256)) * 64)  # binary under a note's name
        bad = w.wait_for("failed", "scan.md")
        assert bad.detail is not None and "binary" in bad.detail
        put(folder / "later.md", OTHER.replace("Design review", "Second design review"))
        w.wait_for("new", "later.md")  # the watch went on

        note.unlink()
        gone = w.wait_for("removed", "vendor.md")
        assert gone.meeting_id is not None
        assert "vendor.md" not in stored(pool, tenant)
        with tenant_transaction(pool, tenant) as conn:  # nothing of it is left behind
            for table in ("chunks", "items", "meeting_attendees", "chunk_lines"):
                left = conn.execute(f"SELECT count(*) FROM {table} WHERE meeting_id = %s", (gone.meeting_id,))
                assert left.fetchone() == (0,), table
        assert "sprinkler" not in top_hit(pool, embedder, tenant, "warehouse sprinkler inspection audit")

        os.rename(folder / "design.md", folder / "design-2024-03-05.md")  # renamed: the meeting follows
        w.wait_for("new", "design-2024-03-05.md")
        assert "design.md" not in stored(pool, tenant) and "design-2024-03-05.md" in stored(pool, tenant)
        assert w.asked == []  # --on-delete remove asks nobody
    assert w.summary is not None
    assert (w.summary.removed, w.summary.errors) == (2, 1)
    assert w.summary.ingested == 5  # design, vendor, vendor again, later, the renamed design


def test_deleted_note_keeps_its_meeting_unless_removal_is_confirmed(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tenant: str, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    put(folder / "vendor.md", NOTE_V1)
    put(folder / "design.md", OTHER)
    with watching(pool, embedder, folder, options, on_delete="keep") as w:
        w.wait_for("watching")
        (folder / "vendor.md").unlink()
        kept = w.wait_for("kept", "vendor.md")
        assert kept.detail == "on-delete keep"
        assert "vendor.md" in stored(pool, tenant)
        put(folder / "never-stored.md", b"\x00\x01binary")
        w.wait_for("failed", "never-stored.md")
        (folder / "never-stored.md").unlink()
        w.wait_for("gone", "never-stored.md")  # nothing was stored for it: nothing to keep or remove

    with watching(pool, embedder, folder, options, on_delete="ask", answer=False) as w:
        w.wait_for("watching")
        (folder / "design.md").unlink()
        assert w.wait_for("kept", "design.md").detail == "not confirmed"
        assert w.asked == [["design.md"]] and "design.md" in stored(pool, tenant)

    put(folder / "design.md", OTHER)
    with watching(pool, embedder, folder, options, on_delete="ask", answer=True) as w:
        w.wait_for("watching")
        (folder / "design.md").unlink()
        w.wait_for("removed", "design.md")
        assert w.asked == [["design.md"]] and "design.md" not in stored(pool, tenant)


def test_temp_files_hidden_files_and_moved_folders(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tenant: str, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    with watching(pool, embedder, folder, options, on_delete="remove") as w:
        ready = w.wait_for("watching")
        for name in ("~$vendor.md", ".#vendor.md", "vendor.md~", ".vendor.md.swp", "#vendor.md#"):
            put(folder / name, NOTE_V1)  # an editor's lock, swap and backup files: no line, nothing stored
        (folder / ".git").mkdir()
        put(folder / ".git" / "notes.md", NOTE_V1)
        put(folder / "design.md", OTHER)
        w.wait_for("new", "design.md")
        assert [Path(e.path).name for e in w.since(ready)] == ["design.md"]

        outside = tmp_path / "q1"  # a folder of notes moved in: its notes are read
        outside.mkdir()
        put(outside / "vendor.md", NOTE_V1)
        shutil.move(outside, folder / "q1")
        w.wait_for("new", "vendor.md")
        shutil.rmtree(folder / "q1")  # and removed again: its notes' meetings go
        w.wait_for("removed", "vendor.md")
        assert sorted(stored(pool, tenant)) == ["design.md"]


# ---- the command, as a user runs it --------------------------------------------------------------


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, list(args), env={"MINUTEBOOK_TENANT": "acme"})
    return result.exit_code, result.output


def test_watch_refuses_batch_options_in_one_line(tmp_path: Path) -> None:
    for args, says in (
        (["ingest", "--watch", str(tmp_path), "a.md"], "--watch DIR takes no other paths"),
        (["ingest", "--watch", str(tmp_path), "--workers", "2"], "--watch DIR takes no --workers"),
        (["ingest", "--watch", str(tmp_path), "--join", str(uuid.uuid4())], "--watch DIR takes no --join"),
        (["ingest", "--watch", str(tmp_path / "nowhere")], "no such directory"),
        (["ingest", "--watch", str(tmp_path), "--on-delete", "shred"], "choose one of remove, keep, ask"),
        (["ingest", "a.md", "--on-delete", "remove"], "--on-delete and --debounce go with --watch DIR"),
    ):
        code, out = cli(*args)
        assert code == 1 and says in out and len(out.strip().splitlines()) == 1, (args, out)


def test_ingest_help_explains_watch() -> None:
    code, out = cli("ingest", "--help")
    assert code == 0 and "--watch" in out and "--on-delete" in out and "--debounce" in out


@contextmanager
def watch_process(
    folder: Path, pg_url: str, *extra: str
) -> Iterator[tuple[subprocess.Popen[str], Callable[[str], str]]]:
    """`minutebook ingest --watch` in its own process, and a way to wait for a line of its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINUTEBOOK_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=pg_url,
        MINUTEBOOK_TENANT=f"w{uuid.uuid4().hex[:10]}",
        MINUTEBOOK_MODELS_DIR=os.environ["MINUTEBOOK_MODELS_DIR"],
        MINUTEBOOK_HOME=str(folder.parent / "home"),
        COLUMNS="200",
    )
    command = [sys.executable, "-m", "minutebook.api", "ingest", "--watch", str(folder), "--debounce", "50", *extra]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    out = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True).start()
    seen: list[str] = []

    def line_with(text: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert process.poll() is None, (
                    f"the watch exited: {seen} {process.stderr.read() if process.stderr else ''}"
                )
                continue
            seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} in {WAIT} s: {seen}")

    try:
        yield process, line_with
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_watch_command_prints_a_line_per_change_and_stops_on_ctrl_c(tmp_path: Path, pg_url: str) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    put(folder / "design.md", OTHER)
    with watch_process(folder, pg_url, "--on-delete", "remove") as (process, line_with):
        assert "1 ingested" in line_with("watching")
        put(folder / "vendor.md", NOTE_V1)
        assert line_with(f"new {folder}/vendor.md: 1 item, ")
        put(folder / "bad.md", b"\x00" * 100)
        assert (
            line_with(f"error {folder}/bad.md").strip()
            == f"error {folder}/bad.md: looks like a binary file, not text notes"
        )
        (folder / "vendor.md").unlink()
        assert line_with(f"removed {folder}/vendor.md: deleted, and its meeting with it")
        process.send_signal(signal.SIGINT)
        summary = line_with("stopped watching")
        assert process.wait(WAIT) == 0
    assert summary.strip() == f"stopped watching {folder}: 2 ingested, 0 unchanged, 1 removed, 0 kept, 1 error"
    assert process.stderr is not None and "Traceback" not in process.stderr.read()


def test_watch_command_json_lines_and_sigterm(tmp_path: Path, pg_url: str) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    with watch_process(folder, pg_url, "--json") as (process, line_with):
        line_with('"watching"')
        put(folder / "vendor.md", NOTE_V1)
        new = json.loads(line_with('"event": "new"'))
        assert new["event"] == "new" and new["items"] == 1 and new["path"] == f"{folder}/vendor.md"
        (folder / "vendor.md").unlink()  # no terminal to ask: the meeting stays
        kept = json.loads(line_with('"event": "kept"'))
        assert kept["event"] == "kept" and kept["meeting_id"] == new["meeting_id"]
        process.send_signal(signal.SIGTERM)
        stopped = json.loads(line_with('"stopped"'))
        assert process.wait(WAIT) == 0
    assert stopped == {"event": "stopped", "path": str(folder), "ingested": 1, "unchanged": 0, "removed": 0,
                       "kept": 1, "errors": 0}  # fmt: skip
