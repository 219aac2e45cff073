"""What the CLI prints, as a user at a terminal sees it (issue 23, items 9 and 15):

- `--json` is safe to print: control characters from notes arrive escaped, never raw, and
  decode back to what the note holds;
- every table is readable at 80 columns and at 120: no line is wider than the terminal, and no
  number, amount or date from the data is cut or folded.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Q4_NOTE, TPM_NOTE
from llm_server import LLMServer
from psycopg_pool import ConnectionPool
from rich.cells import cell_len
from typer.testing import CliRunner, Result

from minutebook.api.cli import app as cli_app
from minutebook.cache.report import usd
from minutebook.core.embedder import Embedder
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

CSI, ESC = "\x9b", "\x1b"  # U+009B is a one-byte CSI: "\x9b2J" clears a screen as "\x1b[2J" does
NOTE = f"""# Red{CSI}team sync - Nov 18, 2025
Attendees: Rita Markup, Sam Escape

## Action Items
- [ ] Zebra review of {ESC}[2Jscreen clearing{CSI}31m codes (Rita Markup, Nov 20)
- [ ] Rotate the keys at https://example.com/a/very/long/path/that/never/ends/on/one/line (Sam Escape, Nov 21)

## Notes
- The zebra review found {ESC}[2J{ESC}[31mscreen clearing{ESC}[0m and {CSI}2J codes in the logs.
"""
QUESTION = f"what did the zebra review find{CSI}2J?"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
WIDTHS = (80, 120)
DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@pytest.fixture(scope="module")
def shell(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Result]]:
    """`minutebook …` in a tenant holding the sample notes, at a given terminal width."""
    tenant = f"out{uuid.uuid4().hex[:8]}"
    ingest_paths(pool, embedder, [str(Q4_NOTE), str(TPM_NOTE)], options=IngestOptions(tenant=tenant))
    home = tmp_path_factory.mktemp("home")
    runner = CliRunner()

    def run(*args: str, width: int = 200, llm: str | None = None) -> Result:
        env = {
            "DATABASE_URL": pg_url,
            "MINUTEBOOK_TENANT": tenant,
            "MINUTEBOOK_HOME": str(home),
            "COLUMNS": str(width),
            "OPENAI_API_KEY": None,
            "OPENAI_BASE_URL": llm,
        }
        result = runner.invoke(cli_app, list(args), env=env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    run.tenant = tenant  # type: ignore[attr-defined]
    yield run


def strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from strings(v)


# -- item 9: JSON output carries control characters escaped ------------------------------------


def test_json_output_escapes_control_characters_and_keeps_them(shell: Callable[..., Result], tmp_path: Path) -> None:
    note = tmp_path / f"2025-11-18-red{CSI}team.md"
    note.write_text(NOTE)
    outputs: dict[str, str] = {"ingest": shell("ingest", str(note), "--json").stdout}
    with LLMServer() as llm:
        outputs["ask llm"] = shell("ask", QUESTION, "--json", llm=llm.base_url).stdout
        outputs["ask cached"] = shell("ask", QUESTION, "--json", llm=llm.base_url).stdout
    meeting = next(m for m in json.loads(shell("meetings", "--json").stdout)["meetings"] if CSI in m["title"])
    commands = {
        "search": ["search", "zebra review escape codes", "--json"],
        "query search": ["query", 'SEARCH "zebra review"', "--json"],
        "query sql": ["query", "SQL SELECT text FROM chunks", "--json"],
        "who-owns": ["who-owns", "Zebra review", "--json"],
        "items": ["items", "--json"],
        "meetings": ["meetings", "--json"],
        "set-date": ["meetings", "set-date", str(meeting["id"]), "2025-11-18", "--json"],
        "ask extractive": ["ask", "what did the zebra review find in the logs?", "--json"],
        "cache inspect": ["cache", "inspect", "--json"],
        "cost-report": ["cost-report", "--format", "json"],
    }
    for name, args in commands.items():
        outputs[name] = shell(*args).stdout
    entry = json.loads(outputs["ask llm"])["cache"]["entry_id"]
    outputs["cache reject"] = shell("cache", "reject", str(entry), "--json").stdout

    for name, out in outputs.items():
        assert not RAW_CONTROL.search(out), (name, RAW_CONTROL.findall(out))
        assert "\u2028" not in out and "\u202e" not in out, name
        decoded = json.loads(out)
        held = "".join(strings(decoded))
        if name != "cost-report":  # it reports questions normalised (controls folded to spaces)
            assert CSI in held or ESC in held, f"{name}: the characters are escaped, not dropped"
    assert "\\u009b" in outputs["items"] and "\\u001b" in outputs["items"]


def test_json_keeps_other_text_as_written(shell: Callable[..., Result], tmp_path: Path) -> None:
    note = tmp_path / "2025-11-19-accents.md"
    note.write_text(
        "# Réunion d’équipe – 19 nov. 2025\n\n## Actions\n- [ ] Zoë reviews the Ünïcode plan (Zoë, Nov 21)\n"
    )
    shell("ingest", str(note))
    out = shell("items", "--json").stdout
    assert "Zoë reviews the Ünïcode plan" in out  # readable, not \u-escaped


# -- item 15: tables that fit the terminal -----------------------------------------------------


def fits(out: str, width: int) -> None:
    wide = [line for line in out.splitlines() if cell_len(line) > width]
    assert not wide, f"{len(wide)} lines wider than {width}: {wide[:3]}"
    cut = re.findall(r"[\d$.,%-]…|…[\d$]", out)
    assert not cut, f"a number cut short: {cut}"


def whole(value: str, out: str) -> None:
    """The value is printed on one line, in one piece."""
    assert value in out, f"{value!r} is not printed whole"


@pytest.fixture(scope="module")
def ledger(shell: Callable[..., Result], pg_url: str) -> str:
    """Some days of LLM spend and cache savings, tiny and large, on two models."""
    now = datetime.now().astimezone()
    rows = [
        ("gpt-4o-mini-2024-07-18", Decimal("0.00004213"), 3),
        ("gpt-4o-mini-2024-07-18", Decimal("0.0123"), 2),
        ("o3-deep-research-2025-06-26", Decimal("12.3456"), 1),
    ]
    with psycopg.connect(pg_url) as conn:  # as the owner: the ledger of a tenant, as the product writes it
        for model, cost, days_ago in rows:
            when = now - timedelta(days=days_ago)
            conn.execute(
                """INSERT INTO llm_calls (tenant_id, purpose, model, prompt_tokens, completion_tokens, cost_usd,
                                          latency_ms, outcome, created_at)
                   VALUES (%s, 'answer', %s, 123456, 7890, %s, 1200, 'ok', %s)""",
                (shell.tenant, model, cost, when),  # type: ignore[attr-defined]
            )
            conn.execute(
                """INSERT INTO questions (tenant_id, question, question_norm, outcome, model, cost_usd, latency_ms,
                                          created_at) VALUES (%s, 'q', 'q', 'llm', %s, %s, 1200, %s)""",
                (shell.tenant, model, cost, when),  # type: ignore[attr-defined]
            )
    return shell.tenant  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("by", ["day", "model"])
def test_cost_report_fits_and_prints_every_figure_whole(
    shell: Callable[..., Result], ledger: str, width: int, by: str
) -> None:
    report = json.loads(shell("cost-report", "--by", by, "--format", "json").stdout)
    out = shell("cost-report", "--by", by, width=width).stdout
    fits(out, width)
    for row in [*report["groups"], report["totals"]]:
        if row is not report["totals"]:
            whole(str(row["key"]), out)
        for money in ("spend_usd", "saved_usd"):
            whole(usd(None if row[money] is None else Decimal(str(row[money]))), out)
        whole(str(row["prompt_tokens"] + row["completion_tokens"]), out)
        whole(f"{row['llm_calls']} ({row['failed_calls']} failed)", out)
        whole(str(row["questions"]), out)
    if by == "day":  # one money format: cents from $1 up, 4 decimals below, 2 significant digits at least
        assert "$12.35" in out and "$0.000042" in out and "$0.0123" in out
    whole(report["since"][:10], out)


@pytest.mark.parametrize("width", WIDTHS)
def test_items_fit_and_print_every_date_whole(shell: Callable[..., Result], width: int) -> None:
    items = json.loads(shell("items", "--json").stdout)
    out = shell("items", width=width).stdout
    fits(out, width)
    assert items
    for i in items:
        for day in (i["due_date"], i["meeting_date"]):
            if day:
                whole(day, out)
        whole(i["kind"], out)


@pytest.mark.parametrize("width", WIDTHS)
def test_meetings_cache_and_db_tables_fit(shell: Callable[..., Result], width: int) -> None:
    meetings = json.loads(shell("meetings", "--json").stdout)["meetings"]
    out = shell("meetings", width=width).stdout
    fits(out, width)
    for m in meetings:
        for day in DAY.findall(m["when"] or ""):
            whole(day, out)
        whole(str(m["chunks"]), out)

    with LLMServer() as llm:
        shell("ask", "When will Okta SSO be ready?", llm=llm.base_url)
    entries = json.loads(shell("cache", "inspect", "--json").stdout)
    out = shell("cache", "inspect", width=width).stdout
    fits(out, width)
    for e in entries:
        whole(usd(None if e["cost_usd"] is None else Decimal(str(e["cost_usd"]))), out)
        whole(e["expires_at"][:10], out)

    migrations = json.loads(shell("db", "status", "--json").stdout)
    out = shell("db", "status", width=width).stdout
    fits(out, width)
    for m in migrations:
        whole(m["name"], out)
        whole(m["applied_at"][:10], out)  # the day, and the time (it may go to the next line)
        whole(m["applied_at"][11:19], out)

    sql = "SQL SELECT id, title, date_start, date_end, source, ingested_at FROM meetings"
    rows = json.loads(shell("query", sql, "--json").stdout)["rows"]
    out = shell("query", sql, width=width).stdout
    fits(out, width)
    for row in rows:
        for day in DAY.findall(" ".join(str(v) for v in row)):
            whole(day, out)


@pytest.mark.parametrize("width", WIDTHS)
def test_ingest_search_and_who_owns_fit(shell: Callable[..., Result], width: int, tmp_path: Path) -> None:
    note = tmp_path / f"2025-11-2{width % 9}-sync.md"
    note.write_text(
        f"# Sync - Nov 2{width % 9}, 2025\n\n## Actions\n- [ ] Sarah Chen ships the billing export by Dec 1\n"
    )
    out = shell("ingest", str(note), width=width).stdout
    fits(out, width)
    assert re.search(r"│\s+1\s+│\s+0\s+│\s+0\s+│\s+0\s+│", out)  # new, updated, unchanged, failed
    # not tables: long lines are left for the terminal to wrap, so nothing in them is ever cut
    hits = json.loads(shell("search", "Okta SSO timeline", "--json").stdout)["hits"]
    out = shell("search", "Okta SSO timeline", width=width).stdout
    for h in hits:
        whole(f"lines {h['line_start']}-{h['line_end']}", out)
    assert "…" not in out
    out = shell("who-owns", "Okta SSO", width=width).stdout
    whole("2025-11-15", out)
    assert "…" not in out
