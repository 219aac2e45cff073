"""`minutebook meetings`: what is stored, which meetings got no date, and giving them one."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from minutebook.api.cli_support import (
    Col,
    console,
    friendly_errors,
    parse_as_of,
    parse_day,
    print_json,
    print_table,
    safe,
    settings_from,
)
from minutebook.core.errors import QueryError

if TYPE_CHECKING:
    from minutebook.search.meetings import MeetingSummary


meetings_app = typer.Typer(
    help="List stored meetings (newest first), find the undated ones and give them a date.",
    no_args_is_help=False,
    invoke_without_command=True,
)


@meetings_app.callback(invoke_without_command=True)
@friendly_errors
def meetings_cmd(
    ctx: typer.Context,
    undated: bool = typer.Option(False, "--undated", help="Only meetings that got no date (fix with set-date)."),
    since: str | None = typer.Option(None, "--since", help="Meetings on or after this day (YYYY-MM-DD)."),
    until: str | None = typer.Option(None, "--until", help="Meetings on or before this day (YYYY-MM-DD)."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=500, help="How many to list."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to read."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List stored meetings, newest first."""
    from minutebook.api.runtime import open_runtime
    from minutebook.core.database import tenant_transaction
    from minutebook.search.meetings import list_meetings

    if ctx.invoked_subcommand is not None:
        return
    as_of = parse_as_of(None)
    first, last = parse_day(since, "--since", as_of), parse_day(until, "--until", as_of, end=True)
    settings = settings_from(tenant)
    with open_runtime(settings, check_embeddings=False) as rt, tenant_transaction(rt.pool, settings.tenant) as conn:
        found = list_meetings(conn, tenant=settings.tenant, since=first, until=last, undated=undated, limit=limit)
    if json_out:
        print_json({"meetings": [asdict(m) for m in found]})
        return
    if not found:
        console.print("no undated meetings" if undated else "no meetings stored (run `minutebook ingest PATH`)")
        return
    _render(found, undated=undated)


def _render(found: list[MeetingSummary], *, undated: bool) -> None:
    rows = []
    for m in found:
        when = safe(m.when) if m.when else "[yellow]undated[/yellow]"
        if m.date_source == "given":
            when += " [dim](given)[/dim]"
        rows.append([str(m.id), when, safe(m.title), safe(m.source), str(m.chunks), str(m.items)])
    print_table(
        [Col("id", "number"), Col("date", "words"), Col("title"), Col("source"), Col("passages", "number"),
         Col("items", "number")],
        rows, title="undated meetings" if undated else None, key=2, narrow="records",
    )  # fmt: skip
    if undated:
        console.print("give one a date with: minutebook meetings set-date ID DATE", highlight=False)


@meetings_app.command("set-date")
@friendly_errors
def set_date_cmd(
    meeting_id: int = typer.Argument(..., min=1, help="The meeting's id (see `minutebook meetings`)."),
    when: str = typer.Argument(
        ...,
        metavar="DATE",
        help="A day (2022-11-07), a range (2013-01-30..2013-02-01), a month (2022-10, 'October 2022') "
        "or a quarter ('Q3 2024').",
    ),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant the meeting belongs to."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Give a meeting its date: its sections take it, and cached answers that depended on it are dropped."""
    from minutebook.api.runtime import open_runtime
    from minutebook.core.database import tenant_transaction
    from minutebook.core.dates import parse_given_date
    from minutebook.search.meetings import date_meeting

    try:
        given = parse_given_date(when)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    settings = settings_from(tenant)
    with open_runtime(settings, check_embeddings=False) as rt, tenant_transaction(rt.pool, settings.tenant) as conn:
        found = date_meeting(conn, settings.tenant, meeting_id, given)
    if found is None:
        raise QueryError(f"no meeting {meeting_id} in tenant {settings.tenant!r} (see `minutebook meetings`)")
    if json_out:
        print_json(asdict(found))
        return
    console.print(f"meeting {found.id} ({safe(found.title)}) is now dated {safe(found.when)}", highlight=False)
