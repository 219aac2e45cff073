"""`minutebook ingest`: notes in, with a progress bar and a summary table."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import PurePath
from typing import TYPE_CHECKING

import typer

from minutebook.api.cli_support import (
    Col,
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
) -> None:
    """Ingest meeting notes (markdown or plain text). Unchanged notes are skipped, changed ones replaced."""
    from minutebook.api.runtime import open_runtime
    from minutebook.core.dates import parse_given_date
    from minutebook.ingest.pipeline import IngestOptions, ingest_paths

    if bool(paths) == bool(join):
        raise QueryError("name the notes to ingest, or --join a queued batch (not both)")

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
