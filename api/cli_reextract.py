"""`minutebook reextract`: read the stored notes again with this version's extractor."""

from __future__ import annotations

import typer

from minutebook.api.cli_support import (
    console,
    err_console,
    friendly_errors,
    print_json,
    progress_bar,
    safe,
    settings_from,
)


@friendly_errors
def reextract_cmd(
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant whose notes to read again."),
    everything: bool = typer.Option(False, "--all", help="Every stored note, not only those read by another version."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Read the stored notes again after the extractor changed: items and owners, people,
    attendance, dates and line fingerprints are derived anew from each note's text, one
    transaction per note. Passages and their embeddings stay; a note that would now be cut into
    other passages is re-embedded, and named."""
    from minutebook.api.runtime import open_runtime
    from minutebook.ingest.reextract import reextract

    settings = settings_from(tenant)
    with open_runtime(settings) as rt, progress_bar(quiet=json_out) as progress:
        task = progress.add_task("re-extracting", total=None)
        report = reextract(
            rt.pool, rt.embedder, tenant=settings.tenant, max_tokens=settings.chunk_max_tokens,
            everything=everything, on_found=lambda n: progress.update(task, total=n),
            on_meeting_done=lambda _source: progress.advance(task),
        )  # fmt: skip
    if json_out:
        print_json({**report.__dict__, "seconds": round(report.seconds, 3)})
    else:
        for failure in report.failed:
            err_console.print(f"[red]failed:[/red] {safe(failure)}", highlight=False)
        for source in report.reembedded:
            err_console.print(f"re-embedded (cut into other passages now): {safe(source)}", highlight=False)
        if report.meetings == 0:
            console.print(f"every note of {safe(report.tenant)} is read by this extractor ({report.version})")
        else:
            console.print(
                f"read {report.meetings - len(report.failed)} of {report.meetings} notes of {safe(report.tenant)} "
                f"again: {report.items} items ({report.items_embedded} embedded, the rest kept their vectors), "
                f"{len(report.reembedded)} re-embedded, {report.people_removed} people no note names any more "
                f"removed, in {report.seconds:.1f} s",
                highlight=False,
            )
    if report.failed:
        raise typer.Exit(1)
