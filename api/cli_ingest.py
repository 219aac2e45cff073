"""`minutebook ingest`: notes in, with a progress bar and a summary table."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import typer

from minutebook.api.cli_support import (
    Col,
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
    from minutebook.ingest.pipeline import IngestReport


@friendly_errors
def ingest(
    paths: list[str] = typer.Argument(..., help="Files, directories (searched recursively) or globs."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to ingest into."),
    when: str | None = typer.Option(
        None,
        "--date",
        help="The meeting date of these notes, over what they say: 2022-11-07, 2013-01-30..2013-02-01, "
        "2022-10 or 'Q3 2024'.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report instead of a table."),
) -> None:
    """Ingest meeting notes (markdown or plain text). Unchanged notes are skipped, changed ones replaced."""
    from minutebook.api.runtime import open_runtime
    from minutebook.core.dates import parse_given_date
    from minutebook.ingest.pipeline import IngestOptions, ingest_paths

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
    with (
        open_runtime(settings) as rt,
        progress_bar(quiet=json_out) as progress,
    ):
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
                "files": [o.__dict__ for o in report.outcomes],
            }
        )
    else:
        _render(report)
    if report.failed:
        raise typer.Exit(1)


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
