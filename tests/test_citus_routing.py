"""On Citus, every statement the product runs for a tenant goes to that tenant's one shard (issue 27).

A statement that does not name its tenant is still correct there (row-level security filters on
every shard), but Citus sends it to every shard of every worker: a search that should touch one
worker touches all of them, and a row lock (`FOR UPDATE`) is refused outright. Here the app role
runs with `citus.multi_task_query_log_level = error`, so such a statement fails, while the CLI
does what users do: ingest (again, changed, dated), search, who-owns, items, meetings, ask twice
(the LLM, then the cache), reject the cached answer, cache stats and the cost report.

SQL mode is left out on purpose: a user's own query is confined by row-level security alone.
Runs on Citus only (`make test-citus`); on one node there is nothing to route.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Q4_NOTE, TPM_NOTE
from llm_server import LLMServer
from psycopg import sql
from typer.testing import CliRunner, Result

from minutebook.api.cli import app as cli_app
from minutebook.core.database import APP_ROLE, on_citus


@pytest.fixture
def routed(pg_url: str) -> Iterator[None]:
    """The app role's new sessions refuse any statement Citus would send to several shards."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if not on_citus(conn):
            pytest.skip("Citus only: on one node every statement is local")
        database = conn.info.dbname
        role = sql.SQL("ALTER ROLE {} IN DATABASE {} ").format(sql.Identifier(APP_ROLE), sql.Identifier(database))
        conn.execute(role + sql.SQL("SET citus.multi_task_query_log_level = 'error'"))
    try:
        yield
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(role + sql.SQL("RESET citus.multi_task_query_log_level"))


@pytest.fixture
def cli(pg_url: str, tmp_path: Path, routed: None) -> Callable[..., Result]:
    tenant = f"route{uuid.uuid4().hex[:8]}"
    runner = CliRunner()

    def run(*args: str, llm: str | None = None) -> Result:
        env = {
            "DATABASE_URL": pg_url,
            "MINUTEBOOK_TENANT": tenant,
            "MINUTEBOOK_HOME": str(tmp_path / "home"),
            "COLUMNS": "200",
            "OPENAI_API_KEY": "test" if llm else None,
            "OPENAI_BASE_URL": llm,
        }
        result = runner.invoke(cli_app, list(args), env=env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    return run


def test_a_tenants_work_touches_only_its_shard(cli: Callable[..., Result], tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for note in (Q4_NOTE, TPM_NOTE):
        (notes / note.name).write_text(note.read_text())
    undated = notes / "platform-sync.md"
    undated.write_text(
        "# Platform sync\nAttendees: Ana Ruiz, Ben Okafor\n\n"
        "## Action Items\n- [ ] Ana Ruiz to move the queue to Postgres\n"
    )

    def ingest(*args: str) -> list[str]:
        return sorted(f["status"] for f in json.loads(cli("ingest", *args, "--json").stdout)["files"])

    assert ingest(str(notes)) == ["new", "new", "new"]
    assert "new" not in ingest(str(notes))  # unchanged: nothing written
    (notes / TPM_NOTE.name).write_text(TPM_NOTE.read_text() + "\n- Ben Okafor owns the Okta SSO rollout.\n")
    assert "updated" in ingest(str(notes))  # changed: replaced
    assert ingest(str(undated), "--date", "2025-11-18") == ["updated"]  # stored already: dated

    assert "Okta" in cli("search", "Okta SSO").stdout
    cli("search", "queue", "--since", "2025-01-01", "--person", "Ana Ruiz")
    cli("who-owns", "Okta SSO")
    cli("items", "--json")
    cli("meetings", "--undated")
    meeting = json.loads(cli("meetings", "--json").stdout)["meetings"][0]["id"]
    cli("meetings", "set-date", str(meeting), "2025-11-19")
    with LLMServer() as llm:
        first = json.loads(cli("ask", "When will Okta SSO be ready?", "--json", llm=llm.base_url).stdout)
        again = json.loads(cli("ask", "When will Okta SSO be ready?", "--json", llm=llm.base_url).stdout)
    assert first["cache"]["stored"] and again["cache"]["hit"], (first["cache"], again["cache"])
    cli("cache", "stats")
    cli("cache", "inspect")
    cli("cache", "reject", str(again["cache"]["entry_id"]), "--reason", "routing test")
    cli("cost-report")
