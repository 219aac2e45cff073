"""`minutebook search`: the passages closest to a question."""

from __future__ import annotations

import typer
from rich.table import Table

from minutebook.api.cli_support import console, friendly_errors, print_json, settings_from
from minutebook.api.runtime import open_runtime
from minutebook.core.database import tenant_transaction
from minutebook.search.retrieve import nearest_chunks


@friendly_errors
def search(
    text: str = typer.Argument(..., help="What to look for, in your own words."),
    k: int = typer.Option(5, "--k", "-k", min=1, max=100, help="How many passages to return."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to search."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find the passages of your notes that best match TEXT."""
    settings = settings_from(tenant)
    with open_runtime(settings) as rt:
        query = rt.embedder.encode_one(text)
        with tenant_transaction(rt.pool, settings.tenant) as conn:
            hits = nearest_chunks(conn, query, tenant=settings.tenant, k=k)
    if json_out:
        print_json([h.__dict__ for h in hits])
        return
    if not hits:
        console.print("no notes yet: run `minutebook ingest PATH` first")
        return
    table = Table("#", "meeting", "section", "passage", "score", show_lines=True)
    for i, h in enumerate(hits, 1):
        when = f" ({h.meeting_date})" if h.meeting_date else ""
        table.add_row(
            str(i), h.meeting_title + when, " › ".join(h.section_path), h.text, f"{h.similarity:.2f}"
        )
    console.print(table)
