"""Show what was understood (issue 24 item 4): for each note the ingest report gives the date as
read and where from, the attendees, the items and their owners, and the actions it could give no
owner; an unowned item whose line names someone is "owner unclear (names: …)", never
"unassigned" beside a name. The CLI, the API and the web pages say the same; `items --unowned`
(and its twins) list the gaps."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from rich.cells import cell_len
from typer.testing import CliRunner, Result

from minutebook.api.app import create_app
from minutebook.api.cli import app as cli_app
from minutebook.api.keys import create_key
from minutebook.api.runtime import Runtime
from minutebook.core.embedder import Embedder
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

NOTE = """# Platform sync - Nov 18, 2025
Attendees: Dana Ortiz, Lee Park, Omar Haddad

## Action Items
- [ ] Dana Ortiz to ship the billing export by Dec 1
- [ ] Review the rollout plan with Lee Park
- [ ] Write the migration runbook
- Lee Park will rotate the staging keys (Nov 28)

## Decisions
- Agreed to freeze the schema until January
"""
NAME = "2025-11-18-platform-sync.md"
UNCLEAR = "owner unclear (names: Lee Park)"


@pytest.fixture
def note(tmp_path: Path) -> Path:
    path = tmp_path / NAME
    path.write_text(NOTE)
    return path


def no_unassigned_beside_a_name(text: str) -> None:
    for line in text.splitlines():
        assert not ("unassigned" in line and "Lee Park" in line), line


def test_the_report_says_what_was_read_from_each_note(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, note: Path
) -> None:
    [outcome] = ingest_paths(pool, embedder, [str(note)], options=options).outcomes
    u = outcome.understood
    assert u is not None and outcome.status == "new"
    assert (u.date, u.date_text, u.date_source, u.attendees) == ("2025-11-18", "Nov 18, 2025", "title", 3)
    assert (u.owned, u.unowned) == (2, 2)
    read = {i.text: i for i in u.items}
    assert read["ship the billing export"].owners == ["Dana Ortiz"] and read["ship the billing export"].due
    unclear, unassigned = read["Review the rollout plan with Lee Park"], read["Write the migration runbook"]
    assert (unclear.owners, unclear.mentioned) == ([], ["Lee Park"])
    assert (unassigned.owners, unassigned.mentioned) == ([], [])
    assert unassigned.line == 7  # 1-based, as every output shows lines
    # an unchanged note was not read again: nothing to report
    [again] = ingest_paths(pool, embedder, [str(note)], options=options).outcomes
    assert again.status == "unchanged" and again.understood is None


@pytest.fixture
def shell(pg_url: str, tmp_path: Path) -> Callable[..., Result]:
    runner = CliRunner()
    home = tmp_path / "home"

    def run(*args: str, width: int = 80, tenant: str = "", code: int = 0) -> Result:
        env = {"DATABASE_URL": pg_url, "MINUTEBOOK_HOME": str(home), "COLUMNS": str(width), "OPENAI_API_KEY": None}
        env["MINUTEBOOK_TENANT"] = tenant or run.tenant  # type: ignore[attr-defined]
        result = runner.invoke(cli_app, list(args), env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result

    run.tenant = f"rep{uuid.uuid4().hex[:8]}"  # type: ignore[attr-defined]
    return run


def test_cli_ingest_report_items_unowned_and_who_owns(shell: Callable[..., Result], note: Path) -> None:
    out = shell("ingest", str(note)).stdout
    assert all(cell_len(line) <= 80 for line in out.splitlines()), out
    assert "what was read" in out and NAME in out and "2025-11-18" in out and "title" in out
    assert re.search(r"│\s+3\s+│\s+5\s+│\s+2\s+│\s+2\s+│", out)  # attendees, items, owned, no owner
    gaps = out[out.index("actions with no owner") :]
    assert "owner unclear" in gaps and "(names: Lee Park)" in gaps and "unassigned" in gaps
    assert "billing" not in gaps and "Write the migration" in gaps
    no_unassigned_beside_a_name(out)

    details = shell("ingest", "-v", str(note), tenant=f"rep{uuid.uuid4().hex[:8]}", width=200).stdout
    assert "ship the billing export" in details and "Dana Ortiz" in details and UNCLEAR in details
    report = json.loads(shell("ingest", "--json", str(note), tenant=f"rep{uuid.uuid4().hex[:8]}").stdout)
    understood = report["files"][0]["understood"]
    assert (understood["date"], understood["attendees"], understood["owned"], understood["unowned"]) == (
        "2025-11-18",
        3,
        2,
        2,
    )
    assert {"text": "Review the rollout plan with Lee Park", "mentioned": ["Lee Park"]}.items() <= next(
        i for i in understood["items"] if i["mentioned"]
    ).items()

    unowned = shell("items", "--unowned", width=200).stdout
    assert UNCLEAR in unowned and "Write the migration runbook" in unowned and "billing" not in unowned
    no_unassigned_beside_a_name(unowned)
    listed = json.loads(shell("items", "--unowned", "--kind", "action", "--json").stdout)
    assert sorted((i["text"], i["owner_status"], i["mentioned"]) for i in listed) == [
        ("Review the rollout plan with Lee Park", "owner unclear", ["Lee Park"]),
        ("Write the migration runbook", "unassigned", []),
    ]
    owner = shell("who-owns", "review the rollout plan").stdout
    assert "owner unclear" in owner and "Lee Park" in owner
    no_unassigned_beside_a_name(owner)


@pytest.fixture
def client(pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    tenant = f"rep{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, tenant, "report test")
    app = create_app(Runtime(Settings(home=tmp_path, rate_per_second=1000.0, rate_burst=1000), pg_url, pool, embedder))
    return TestClient(app, base_url="http://127.0.0.1"), {"Authorization": f"Bearer {key}", "key": key}


def test_api_json_reports_what_was_read_and_lists_unowned_items(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    headers = {"Authorization": auth["Authorization"]}
    body = http.post("/v1/ingest", files=[("files", (NAME, NOTE.encode(), "text/markdown"))], headers=headers).json()
    understood = body["files"][0]["understood"]
    assert (understood["date"], understood["date_source"], understood["attendees"]) == ("2025-11-18", "title", 3)
    assert (understood["owned"], understood["unowned"]) == (2, 2)

    items = http.get("/v1/action-items", params={"unowned": "true"}, headers=headers).json()["items"]
    assert {i["text"] for i in items} == {
        "Review the rollout plan with Lee Park",
        "Write the migration runbook",
        "Agreed to freeze the schema until January",
    }
    assert {i["text"]: (i["owner_status"], i["mentioned"]) for i in items}["Review the rollout plan with Lee Park"] == (
        "owner unclear",
        ["Lee Park"],
    )
    assert len(http.get("/v1/action-items", headers=headers).json()["items"]) == 5
    answer = http.get("/v1/owners", params={"topic": "review the rollout plan"}, headers=headers).json()
    assert (answer["item"]["owner_status"], answer["item"]["mentioned"]) == ("owner unclear", ["Lee Park"])


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def test_upload_page_and_items_board_show_what_was_read(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    form = http.get("/sign-in").text
    http.post("/sign-in", data={"key": auth["key"], "csrf": _csrf(form), "next": "/"}, follow_redirects=False)
    page = http.post(
        "/upload",
        data={"csrf": _csrf(http.get("/upload").text)},
        files=[("files", (NAME, NOTE.encode(), "text/markdown"))],
    ).text
    row = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.split('class="understood"')[1].split("</td>")[0]))
    assert "2025-11-18 (from title) · 3 attendees · 5 items: 2 owned, 2 with no owner" in row
    read = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.split('class="items-read"')[1].split("</details>")[0]))
    assert "Review the rollout plan with Lee Park line 6 · owner unclear (names: Lee Park)" in read
    assert "Write the migration runbook line 7 · unassigned" in read and "Dana Ortiz" in read

    board = http.get("/owners", params={"unowned": "1"}).text
    assert UNCLEAR in board and "Write the migration runbook" in board and "billing export" not in board
    assert re.search(r'id="unowned"[^>]* checked', board)
    no_unassigned_beside_a_name(re.sub(r"<[^>]+>", "", board))
    answer = http.get("/owners", params={"topic": "review the rollout plan"}).text
    assert "owner unclear</strong> (names: Lee Park)" in answer
