"""`minutebook`: the command line. Each command builds the runtime, calls down, and renders."""

from __future__ import annotations

import typer

from minutebook.api import (
    cli_ask,
    cli_db,
    cli_ingest,
    cli_mcp,
    cli_meetings,
    cli_owners,
    cli_reembed,
    cli_reextract,
    cli_search,
    cli_serve,
)

app = typer.Typer(
    name="minutebook",
    help="Semantic search over meeting notes: ingest notes, then ask what was decided and who owns what.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("ingest")(cli_ingest.ingest)
app.command("reembed")(cli_reembed.reembed_cmd)
app.command("reextract")(cli_reextract.reextract_cmd)
app.command("search")(cli_search.search)
app.command("query")(cli_search.query)
app.command("ask")(cli_ask.ask_cmd)
app.command("cost-report")(cli_ask.cost_report_cmd)
app.add_typer(cli_ask.cache_app, name="cache")
app.command("who-owns")(cli_owners.who_owns_cmd)
app.command("items")(cli_owners.items_cmd)
app.add_typer(cli_meetings.meetings_app, name="meetings")
app.command("serve")(cli_serve.serve)
app.command("mcp")(cli_mcp.mcp_cmd)
app.add_typer(cli_serve.keys_app, name="keys")
app.add_typer(cli_db.db_app, name="db")


def main() -> None:
    app()
