"""`minutebook search` and `minutebook query`: passages and entities, with filters."""

from __future__ import annotations

from dataclasses import asdict

import typer

from minutebook.api.cli_support import (
    Col,
    clean,
    console,
    friendly_errors,
    parse_as_of,
    parse_day,
    print_json,
    print_table,
    safe,
    settings_from,
)
from minutebook.search.query_language import FORMS


@friendly_errors
def search(
    text: str = typer.Argument(..., help='What to look for, e.g. "what did we decide about SSO last week".'),
    k: int = typer.Option(5, "--k", "-k", min=1, max=100, help="How many passages to return."),
    since: str | None = typer.Option(None, "--since", help="Only notes on or after this date."),
    until: str | None = typer.Option(None, "--until", help="Only notes on or before this date."),
    person: str | None = typer.Option(None, "--person", help="Only meetings this person attended or owns items in."),
    meeting: int | None = typer.Option(None, "--meeting", help="Only this meeting (id, see --json output)."),
    kind: str | None = typer.Option(
        None, "--kind", help="Only passages holding an item of this kind (action, risk...)."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Read 'last week' etc. as of this date (default today)."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to search."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find the passages of your notes that best match TEXT (by meaning, words and spelling)."""
    from minutebook.api.runtime import open_runtime
    from minutebook.search.notes_search import search_notes

    reference = parse_as_of(as_of)
    settings = settings_from(tenant)
    with open_runtime(settings) as rt:
        result = search_notes(
            rt.pool,
            rt.embedder,
            text,
            tenant=settings.tenant,
            as_of=reference,
            since=parse_day(since, "--since", reference),
            until=parse_day(until, "--until", reference, end=True),
            person=person,
            meeting_id=meeting,
            kind=kind,
            k=k,
        )
    if json_out:
        print_json(
            {
                "query": result.query,
                "searched": result.searched_text,
                "interpretation": result.interpretation,
                "window": asdict(result.window) if result.window else None,
                "filters": asdict(result.filters),
                "hits": [asdict(h) for h in result.hits],
                "declined": result.declined,
            }
        )
        return
    if result.interpretation:
        console.print(f"[dim]{safe(result.interpretation)}[/dim]")
    if result.declined:
        console.print(safe(result.declined))
        return
    if not result.hits:
        console.print("no passage matches (run `minutebook ingest PATH` first if you have not)")
        return
    for h in result.hits:
        when = f" ({h.when})" if h.when else ""
        path = safe(" › ".join(h.section_path))
        console.print(
            f"[bold]{h.rank}. {safe(h.meeting_title)}{when}[/bold]" + (f" › {path}" if path else ""), highlight=False
        )
        body = safe(h.highlighted).replace("«", "[bold yellow]").replace("»", "[/bold yellow]")
        console.print("   " + body.replace("\n", "\n   "), highlight=False)
        scores = ", ".join(f"{name} {value:.2f}" for name, value in h.scores.items() if value is not None)
        page = f"p. {h.page} · " if h.page is not None else ""  # a PDF's page, as its reader finds it
        console.print(f"   [dim]fused {h.fused:.4f} · {scores} · {page}lines {h.line_start}-{h.line_end}[/dim]")


@friendly_errors
def query(
    statement: str = typer.Argument(..., help="A REM query; see the forms below."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to query."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run a REM query: LOOKUP, SEARCH, FUZZY, TRAVERSE or SQL (read-only, confined to your tenant)."""
    from minutebook.api.runtime import open_runtime
    from minutebook.search.query import run_query

    settings = settings_from(tenant)
    with open_runtime(settings) as rt:
        result = run_query(rt.pool, rt.embedder, statement, tenant=settings.tenant, sql_limits=rt.sql_limits())
    if json_out:
        print_json(result)
        return
    _render_query(result)


query.__doc__ = (query.__doc__ or "") + "\n\n" + "\n\n".join(f"  {form}" for form in FORMS.values())


def _render_query(result: dict) -> None:
    mode = result["mode"]
    if mode == "SQL":
        print_table(
            [Col(safe(c), "words") for c in result["columns"]],
            [["" if v is None else safe(v) for v in row] for row in result["rows"]],
            key=0,
            narrow="records",
        )
        if result["truncated"]:
            why = "bytes" if result.get("truncated_reason") == "bytes" else "rows"
            console.print(f"[yellow]result cut at the {why} limit; add a LIMIT or select fewer columns[/yellow]")
        for note in result.get("notes", []):
            console.print(f"[dim]{safe(note)}[/dim]")
        return
    if mode == "TRAVERSE":
        labels = {f"{'person' if n['type'] == 'team' else n['type']}:{n['id']}": n["label"] for n in result["nodes"]}
        if not result["nodes"]:
            console.print("nothing by that name")
        for e in result["edges"]:
            console.print(
                f"{clean(labels[e['from']])} —{e['relation']}→ {clean(labels[e['to']])}", highlight=False, markup=False
            )
        return
    rows = result.get("results", [])
    if not rows:
        console.print("no results")
    for i, r in enumerate(rows, 1):
        label = r.get("label") or r.get("text") or r.get("meeting_title")
        kind = r.get("type") or r.get("kind") or "passage"
        score = r.get("score") if r.get("score") is not None else r.get("fused")
        console.print(
            clean(f"{i}. [{kind}] {label}" + (f"  ({score:.3f})" if isinstance(score, float) else "")),
            highlight=False,
            markup=False,
        )
