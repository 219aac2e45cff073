"""`minutebook ingest`: notes in, with a progress bar and a summary table."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from minutebook.api.cli_support import (
    Col,
    clean,
    console,
    err_console,
    friendly_errors,
    print_json,
    print_table,
    progress_bar,
    safe,
    settings_from,
)
from minutebook.core.errors import QueryError

if TYPE_CHECKING:
    from minutebook.core.settings import Settings
    from minutebook.ingest.pipeline import IngestOptions, IngestReport, ItemRead
    from minutebook.ingest.watch import WatchEvent, WatchSummary

# Past this many lines with no owner, the default report counts them and `-v` lists them.
UNOWNED_SHOWN = 20


@friendly_errors
def ingest(
    paths: list[str] = typer.Argument(None, help="Files, directories (searched recursively) or globs."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to ingest into."),
    when: str | None = typer.Option(
        None,
        "--date",
        help="The meeting date of these notes, over what they say: 2022-11-07, 2013-01-30..2013-02-01, "
        "2022-10 or 'Q3 2024'.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report instead of a table."),
    details: bool = typer.Option(
        False, "--details", "-v", help="List every item read from each note, with its owners."
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        max=64,
        help="Processes sharing the batch through the database, one model thread each; more can join it "
        "from other machines that see the same files (--join).",
    ),
    join: str | None = typer.Option(None, "--join", help="Work on a batch queued by `ingest --workers` (its id)."),
    watch: str | None = typer.Option(
        None,
        "--watch",
        metavar="DIR",
        help="Ingest the notes in DIR, then keep watching it: a note added or changed is ingested again, "
        "a deleted note's meeting is removed or kept (--on-delete). One line per change; Ctrl-C stops.",
    ),
    on_delete: str | None = typer.Option(
        None,
        "--on-delete",
        metavar="remove|keep|ask",
        help="With --watch, when a note is deleted: remove its meeting, keep it, or ask (the default; "
        "with no terminal to ask, keep).",
    ),
    debounce: int | None = typer.Option(
        None,
        "--debounce",
        metavar="MS",
        min=10,
        max=60_000,
        help="With --watch, read a change once the folder has been quiet this many milliseconds (default 500).",
    ),
) -> None:
    """Ingest meeting notes (markdown or plain text). Unchanged notes are skipped, changed ones replaced.

    With --watch DIR, ingest what DIR holds and then follow it until Ctrl-C.
    """
    from minutebook.api.runtime import open_runtime
    from minutebook.core.dates import parse_given_date
    from minutebook.ingest.pipeline import IngestOptions, ingest_paths

    if watch is None and (on_delete is not None or debounce is not None):
        raise QueryError("--on-delete and --debounce go with --watch DIR")
    if watch is not None:
        _check_watch_alone(paths, workers=workers, join=join, when=when, details=details)
    elif bool(paths) == bool(join):
        raise QueryError("name the notes to ingest (or --watch a folder), or --join a queued batch (not both)")

    try:
        given = parse_given_date(when) if when else None
    except ValueError as exc:
        raise QueryError(f"--date: {exc}") from None
    settings = settings_from(tenant)
    options = IngestOptions(
        tenant=settings.tenant,
        max_note_bytes=settings.max_note_bytes,
        max_tokens=settings.chunk_max_tokens,
        today=date.today(),
        given_date=given,
    )
    if watch is not None:
        _watch(settings, options, watch, on_delete=on_delete, debounce=debounce, json_out=json_out)
        return
    if join or workers > 1:
        report = _shared_batch(settings, options, paths, workers=workers, join=join, when=when, quiet=json_out)
        if report is None:  # a worker that joined: the batch's owner reports
            return
    else:
        with open_runtime(settings) as rt, progress_bar(quiet=json_out) as progress:
            task = progress.add_task("ingesting", total=None)
            report = ingest_paths(
                rt.pool,
                rt.embedder,
                paths,
                options=options,
                on_files_found=lambda n: progress.update(task, total=n),
                on_file_done=lambda _source: progress.advance(task),
            )
    if json_out:
        print_json(
            {
                "tenant": settings.tenant,
                "seconds": round(report.seconds, 3),
                "chunks_per_second": round(report.chunks_per_second, 1),
                "files": [asdict(o) for o in report.outcomes],
            }
        )
    else:
        _render_understood(report, details=details)
        _render(report)
    if report.failed:
        raise typer.Exit(1)


def _shared_batch(
    settings: Settings, options: IngestOptions, paths: list[str], *, workers: int, join: str | None,
    when: str | None, quiet: bool,
) -> IngestReport | None:  # fmt: skip
    """`--workers N`: queue the batch, start N worker processes (one model thread each), follow
    them, and finish what they left (a killed worker's notes, once its lease ends). `--join`:
    be one of those workers (None: the batch's owner reports)."""
    import os
    import subprocess
    import sys
    import time
    import uuid
    from datetime import timedelta

    from minutebook.api.runtime import open_runtime
    from minutebook.ingest import queue
    from minutebook.ingest.pipeline import IngestReport

    lease = timedelta(seconds=settings.ingest_lease_seconds)
    started = time.perf_counter()
    if join:
        try:
            batch = uuid.UUID(join)
        except ValueError:
            raise QueryError(f"--join {join!r}: not a batch id (ingest --workers prints it)") from None
        with open_runtime(settings) as rt:
            done = queue.work(rt.pool, rt.embedder, batch, options=options, lease=lease)
        err_console.print(f"worker {queue.worker_name()}: {done} note(s) of batch {batch}", highlight=False)
        return None
    with open_runtime(settings) as rt:
        batch, missing = queue.enqueue(rt.pool, settings.tenant, paths)
        total = queue.progress(rt.pool, settings.tenant, batch).total
        if not quiet:
            err_console.print(f"batch {batch}: {total} notes, {workers} workers "
                              f"(more: minutebook ingest --join {batch})", highlight=False)  # fmt: skip
        command = [sys.executable, "-m", "minutebook.api", "ingest", "--join", str(batch), "--tenant", settings.tenant]
        command += ["--date", when] if when else []
        env = {**os.environ, "MINUTEBOOK_EMBED_THREADS": "1"}
        children = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(workers)]
        with progress_bar(quiet=quiet) as bar:
            task = bar.add_task("ingesting", total=total)
            while any(child.poll() is None for child in children):
                now = queue.progress(rt.pool, settings.tenant, batch)
                bar.update(task, completed=now.done + now.failed)
                time.sleep(0.5)
            if not queue.progress(rt.pool, settings.tenant, batch).finished:  # every worker stopped early
                queue.work(rt.pool, rt.embedder, batch, options=options, lease=lease)
            bar.update(task, completed=total)
        found = queue.outcomes(rt.pool, settings.tenant, batch)
    return IngestReport(missing + found, time.perf_counter() - started)


def _check_watch_alone(paths: list[str] | None, *, workers: int, join: str | None, when: str | None,
                       details: bool) -> None:  # fmt: skip
    """`--watch DIR` follows one folder, note by note: the batch options have no meaning there."""
    extra = [
        name
        for name, given in (
            ("other paths", bool(paths)),
            ("--workers", workers > 1),
            ("--join", join is not None),
            ("--date", when is not None),
            ("--details", details),
        )
        if given
    ]
    if extra:
        raise QueryError(f"--watch DIR takes no {', '.join(extra)}: it ingests one folder and follows its changes")


def _watch(
    settings: Settings, options: IngestOptions, folder: str, *, on_delete: str | None, debounce: int | None,
    json_out: bool,
) -> None:  # fmt: skip
    """`ingest --watch DIR`: the folder's notes, then one line per change until Ctrl-C (exit 0)
    or SIGTERM, then a one-line summary."""
    from minutebook.api.runtime import open_runtime
    from minutebook.ingest.watch import ON_DELETE, QUIET_MS, WatchSettings, watch_folder

    root = Path(folder)
    if not root.is_dir():
        raise QueryError(f"--watch {folder}: {'not a directory' if root.exists() else 'no such directory'}")
    policy = on_delete or "ask"
    if policy not in ON_DELETE:
        raise QueryError(f"--on-delete {policy!r}: choose one of {', '.join(ON_DELETE)}")
    show = _WatchLines(folder, root.resolve(), json_out=json_out)
    if policy == "ask" and not sys.stdin.isatty():
        policy = "keep"
        err_console.print(
            "deleted notes keep their meetings: no terminal to ask (--on-delete remove removes them)", highlight=False
        )
    watch_settings = WatchSettings(on_delete=policy, quiet_ms=debounce or QUIET_MS)
    with open_runtime(settings) as rt, _signals_stop() as stop:
        summary = watch_folder(
            rt.pool,
            rt.embedder,
            root,
            options=options,
            settings=watch_settings,
            on_event=show.event,
            confirm_removal=show.confirm,
            stop_event=stop,
        )
        show.stopped(summary)


@contextmanager
def _signals_stop() -> Iterator[threading.Event]:
    """Ctrl-C (SIGINT) and SIGTERM (a service manager) stop the watch between batches: the event is
    set and the watch ends at its next wake-up, with the summary, never in the middle of a
    database call. A second one stops at once (KeyboardInterrupt)."""
    import signal

    stop = threading.Event()

    def handle(_signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write("stopping after the change in progress (again to stop now)\n")

    try:
        previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield stop
        return
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _WatchLines:
    """One line per change on stdout, flushed as it happens: text, or a JSON object a line (--json)."""

    def __init__(self, shown_as: str, root: Path, *, json_out: bool) -> None:
        self.shown_as, self.root, self.json_out = shown_as, root, json_out

    def path(self, source: str) -> str:
        """A note's path as the user named its folder: `notes/2024-03-04.md`."""
        try:
            inside = Path(source).relative_to(self.root)
        except ValueError:
            return source
        return str(Path(self.shown_as) / inside)

    def event(self, e: WatchEvent) -> None:
        if self.json_out:
            self._json(_event_json(e, self.path(e.path)))
            return
        line = self._line(e)
        if line is not None:
            console.print(line, highlight=False)
            sys.stdout.flush()

    def _line(self, e: WatchEvent) -> str | None:
        path = safe(self.path(e.path))
        o = e.outcome
        if e.kind in ("new", "updated") and o is not None:
            items = len(o.understood.items) if o.understood else 0
            line = f"[green]{e.kind}[/green] {path}: {_n(items, 'item')}, {_n(o.chunks, 'passage')}"
            return line + "".join(f"; [yellow]warning:[/yellow] {safe(self._reason(e.path, w))}" for w in o.warnings)
        if e.kind == "unchanged":
            if e.first_pass:
                return None  # the first pass counts them in its summary line
            return f"unchanged {path}" + (f": {safe(self._reason(e.path, o.detail))}" if o and o.detail else "")
        if e.kind == "failed":
            return f"[red]error[/red] {path}: {safe(self._reason(e.path, e.detail or 'failed'))}"
        if e.kind == "removed":
            return f"removed {path}: deleted, and its meeting with it"
        if e.kind == "kept":
            why = "not confirmed" if e.detail == "not confirmed" else "--on-delete keep"
            return f"[yellow]kept[/yellow] {path}: deleted, its meeting stays ({why})"
        if e.kind == "gone":
            return f"deleted {path}: nothing was stored for it"
        if e.kind == "reading":
            return f"reading {_n(e.notes or 0, 'note')} in {path}"
        if e.kind == "watching" and e.summary is not None:
            return f"watching {path} ({_counts(e.summary, kept=False)}); Ctrl-C stops"
        return None

    def _reason(self, source: str, text: str) -> str:
        """An error or warning without the path it starts with (the line names the note already)."""
        for prefix in (f"{source}: ", f"{self.path(source)}: "):
            if text.startswith(prefix):
                return text[len(prefix) :]
        return text.replace(source, self.path(source))

    def confirm(self, sources: Sequence[str]) -> bool:
        """`--on-delete ask`: one y/N question for the notes deleted together."""
        names = [self.path(s) for s in sources]
        listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        them = "its meeting" if len(names) == 1 else "their meetings"
        question = f"{_n(len(names), 'note')} deleted ({clean(listed)}): remove {them} too? [y/N] "
        try:
            answer = err_console.input(Text(question))  # Text: no markup, no highlighting
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    def stopped(self, summary: WatchSummary) -> None:
        if self.json_out:
            self._json({"event": "stopped", "path": self.shown_as, **asdict(summary)})
            return
        console.print(f"stopped watching {safe(self.shown_as)}: {_counts(summary)}", highlight=False)
        sys.stdout.flush()

    def _json(self, data: dict[str, object]) -> None:
        sys.stdout.write(json.dumps(data, ensure_ascii=True, default=str) + "\n")  # ASCII: inert on a terminal
        sys.stdout.flush()


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _counts(s: WatchSummary, *, kept: bool = True) -> str:
    errors = f"[red]{_n(s.errors, 'error')}[/red]" if s.errors else "0 errors"
    parts = [f"{s.ingested} ingested", f"{s.unchanged} unchanged", f"{s.removed} removed"]
    return ", ".join(parts + ([f"{s.kept} kept"] if kept else []) + [errors])


def _event_json(e: WatchEvent, path: str) -> dict[str, object]:
    data: dict[str, object] = {"event": e.kind, "path": path, "source": e.path}
    if e.first_pass:
        data["first_pass"] = True
    o = e.outcome
    if o is not None:
        data["meeting_id"] = o.meeting_id
        if o.status in ("new", "updated"):
            data["chunks"] = o.chunks
            data["items"] = len(o.understood.items) if o.understood else 0
        if o.detail:
            data["detail"] = o.detail
        if o.warnings:
            data["warnings"] = o.warnings
    if e.meeting_id is not None:
        data["meeting_id"] = e.meeting_id
    if e.kind == "failed":
        data["error"] = e.detail
    elif e.detail and e.kind == "kept":
        data["detail"] = e.detail
    if e.notes is not None:
        data["notes"] = e.notes
    if e.summary is not None:
        data.update(asdict(e.summary))
    return data


def _render(report: IngestReport) -> None:
    for o in report.outcomes:
        for w in o.warnings:
            err_console.print(f"[yellow]warning:[/yellow] {safe(w)}", highlight=False)
        if o.error:
            err_console.print(f"[red]failed:[/red] {safe(o.error)}", highlight=False)
    headers = ("new", "updated", "unchanged", "failed", "chunks", "seconds", "chunks/s")
    row = [
        str(report.count("new")),
        str(report.count("updated")),
        str(report.count("unchanged")),
        f"[red]{report.count('failed')}[/red]" if report.failed else "0",
        str(report.chunks_written),
        f"{report.seconds:.2f}",
        f"{report.chunks_per_second:.1f}",
    ]
    print_table([Col(h, "number") for h in headers], [row], title="ingest", key=0)


def owner_cell(item: ItemRead) -> str:
    """Who owns an item as read: its owners, else "owner unclear" with the names its line gives
    (never "unassigned" beside a name), else "unassigned"."""
    if item.owners:
        return safe(" + ".join(item.owners))
    if item.mentioned:
        return f"[yellow]owner unclear[/yellow] (names: {safe(', '.join(item.mentioned))})"
    return "[yellow]unassigned[/yellow]"


def _render_understood(report: IngestReport, *, details: bool) -> None:
    """What was read from each new or changed note: one line each (date and where it was read,
    attendees, items, actions owned and not), then the actions with no owner (every item with -v)."""
    read = [(o, o.understood) for o in report.outcomes if o.understood is not None]
    if not read:
        return
    rows = [
        [
            safe(PurePath(o.source).name),
            safe(u.date or "no date") + (f" ({safe(u.date_source)})" if u.date and u.date_source else ""),
            str(u.attendees),
            str(len(u.items)),
            str(u.owned),
            f"[yellow]{u.unowned}[/yellow]" if u.unowned else "0",
        ]
        for o, u in read
    ]
    cols = [Col("note", "words"), Col("date (read from)", "words")]
    cols += [Col(h, "number") for h in ("attendees", "items", "owned", "no owner")]
    print_table(cols, rows, title="what was read", key=1)
    if details:
        for o, u in read:
            if not u.items:
                continue
            print_table(
                [Col("line", "number"), Col("kind", "words"), Col("item"), Col("owner"), Col("due", "words")],
                [[str(i.line), i.kind, safe(i.text), owner_cell(i), i.due or ""] for i in u.items],
                title=safe(PurePath(o.source).name),
                key=2,
                narrow="records",
            )
        return
    gaps = [(o, i) for o, u in read for i in u.items if i.kind == "action" and not i.owners]
    if not gaps:
        return
    if len(gaps) > UNOWNED_SHOWN:
        console.print(f"{len(gaps)} actions have no owner: `minutebook items --unowned` or `ingest -v` lists them")
        return
    print_table(
        [Col("note", "words"), Col("line", "number"), Col("action"), Col("owner")],
        [[safe(PurePath(o.source).name), str(i.line), safe(i.text), owner_cell(i)] for o, i in gaps],
        title="actions with no owner",
        key=2,
        narrow="records",
    )
