"""`minutebook who-owns` and `minutebook items`: structured answers, no LLM involved."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING

import typer

from minutebook.api.cli_support import (
    Col,
    clean,
    console,
    friendly_errors,
    print_json,
    print_table,
    safe,
    settings_from,
)
from minutebook.ingest.extract import ITEM_KINDS, ITEM_STATUSES

if TYPE_CHECKING:
    from minutebook.search.owners import ItemView, OwnerAnswer


def _owner_line(item: ItemView) -> str:
    if not item.owners:
        if mentioned := item.mentioned:  # a line that names someone: never "unassigned"
            return f"[yellow]owner unclear[/yellow] (names: {safe(', '.join(mentioned))}; none is written as its owner)"
        return "[yellow]unassigned[/yellow] (no owner is written in the notes)"
    parts = []
    for o in item.owners:
        extra = [o.role] if o.role else []
        if o.written_as and o.written_as.split(" (")[0] != o.name:
            extra.append(f'written "{o.written_as}"')
        if o.kind == "team":
            extra.append("team")
        parts.append(f"[bold]{safe(o.name)}[/bold]" + (f" ({safe(', '.join(extra))})" if extra else ""))
    return " + ".join(parts)


def _when(item: ItemView) -> str:
    if item.due_date is None:
        return ""
    if item.due_start and item.due_start != item.due_date:
        return f'due {item.due_start} .. {item.due_date} ("{safe(item.due_text)}")'
    return f'due {item.due_date} ("{safe(item.due_text)}")'


def _render_answer(answer: OwnerAnswer) -> None:
    item = answer.item
    if item is None:
        if answer.declined:  # the relevance judge's reason, in the user's own words
            console.print(f"{safe(answer.declined[0].upper() + answer.declined[1:])}, so no owner is named.")
        else:
            console.print(f'Not in the notes: nothing recorded is about "{safe(answer.topic)}", so no owner is named.')
        return
    console.print(f"{_owner_line(item)}")
    console.print(f"  {item.kind}: {safe(item.text)}", highlight=False)
    facts = [f"status {safe(item.status_text or item.status.replace('_', ' '))}", _when(item)]
    console.print("  " + " · ".join(f for f in facts if f), highlight=False)
    when = f" ({item.meeting_date})" if item.meeting_date else ""
    page = f", p. {item.page}" if item.page is not None else ""  # a PDF's page, as its reader finds it
    console.print(f"  from: {safe(item.meeting_title)}{when}{page}, line {item.source_line}", highlight=False)
    console.print(f"  evidence: {clean(item.evidence)}", highlight=False, markup=False)
    if answer.history:
        console.print("  earlier assignments:")
        for h in answer.history:
            console.print(
                f"    {h.meeting_date}: {safe(h.owner_names)} — {safe(h.text)} ({safe(h.meeting_title)})",
                highlight=False,
            )
    if answer.alternatives:
        console.print("  also matching:")
        for a in answer.alternatives:
            console.print(
                f"    {safe(a.owner_names)}: {safe(a.text)} ({a.kind}, {safe(a.meeting_title)})", highlight=False
            )


@friendly_errors
def who_owns_cmd(
    topic: str = typer.Argument(..., help='The work to look up, e.g. "Okta SSO".'),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to search."),
    k: int = typer.Option(5, "--k", min=1, max=50, help="Matches to consider."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Who owns TOPIC: the owner(s), due date, status and the line of the notes that says so."""
    from minutebook.api.runtime import open_runtime
    from minutebook.search.owners import owner_of

    if not topic.strip():
        raise typer.BadParameter('give a topic, e.g. minutebook who-owns "Okta SSO"')
    settings = settings_from(tenant)
    with open_runtime(settings) as rt:
        answer = owner_of(rt.pool, rt.embedder, topic, tenant=settings.tenant, k=k)
    if json_out:
        print_json({"found": answer.found, **asdict(answer)})
    else:
        _render_answer(answer)


@friendly_errors
def items_cmd(
    owner: str | None = typer.Option(None, "--owner", help="Person or team (full name, first name or alias)."),
    status: str | None = typer.Option(None, "--status", help=f"One of: {', '.join(ITEM_STATUSES)}."),
    kind: str | None = typer.Option(None, "--kind", help=f"One of: {', '.join(ITEM_KINDS)}."),
    due_before: str | None = typer.Option(None, "--due-before", help="Only items due on or before YYYY-MM-DD."),
    unowned: bool = typer.Option(
        False, "--unowned", help='Only items with no owner ("owner unclear" ones with the names their line gives).'
    ),
    limit: int = typer.Option(200, "--limit", min=1, max=10_000),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to search."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List action items, risks, decisions, priorities and milestones extracted from the notes."""
    from minutebook.api.runtime import open_runtime
    from minutebook.core.database import tenant_transaction
    from minutebook.search.owners import list_items

    if status and status not in ITEM_STATUSES:
        raise typer.BadParameter(f"--status must be one of {', '.join(ITEM_STATUSES)}")
    if kind and kind not in ITEM_KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(ITEM_KINDS)}")
    try:
        before = date.fromisoformat(due_before) if due_before else None
    except ValueError:
        raise typer.BadParameter("--due-before takes a date like 2025-11-30") from None
    settings = settings_from(tenant)
    with open_runtime(settings, check_embeddings=False) as rt, tenant_transaction(rt.pool, settings.tenant) as conn:
        found = list_items(
            conn,
            tenant=settings.tenant,
            owner=owner,
            status=status,
            kind=kind,
            due_before=before,
            unowned=unowned,
            limit=limit,
        )
    if json_out:
        print_json([asdict(i) for i in found])
        return
    if not found:
        console.print("no items match" if not unowned else "no items without an owner match")
        return
    print_table(
        [Col("kind", "words"), Col("item"), Col("owner"), Col("due", "words"), Col("status"), Col("meeting")],
        [
            [
                i.kind,
                safe(i.text),
                safe(i.owner_names),
                str(i.due_date or ""),
                safe(i.status_text or i.status),
                safe(f"{i.meeting_title} ({i.meeting_date})" if i.meeting_date else i.meeting_title),
            ]
            for i in found
        ],
        key=2,
        narrow="records",
    )
