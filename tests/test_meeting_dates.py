"""Meeting dates as users meet them: month-dated meetings in time windows, undated ones listed and
fixed (at ingest, from the CLI, over the API), and cached answers that depended on a date dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from llm_server import LLMServer
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from minutebook.api.app import create_app
from minutebook.api.cli import app as cli_app
from minutebook.api.keys import create_key
from minutebook.api.runtime import Runtime
from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.meetings import list_meetings
from minutebook.search.notes_search import search_notes

NOTES = {
    "http-wg-minutes.md": "# HTTP WG Minutes: October 2022\n\n## Caching\n- Agreed to draft the cache-groups spec.\n",
    "ietf-114.md": "# IETF 114\n\n## Session notes\n- QUIC datagram extension reviewed by the chairs.\n",
    "interim.md": "# Interim (30/01/13 - 01/02/13)\n\n## Agenda\n- Header compression tables.\n",
    "sync.md": "# Sync 04/05/2021\n\n## Notes\n- Cookie partitioning draft needs a second reviewer.\n",
}


@pytest.fixture
def notes_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "wg"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as s:
        yield s


def _by_title(pool: ConnectionPool, tenant: str, **filters: object) -> dict[str, object]:
    with tenant_transaction(pool, tenant) as conn:
        return {m.title: m for m in list_meetings(conn, tenant=tenant, **filters)}  # type: ignore[arg-type]


def test_dates_are_read_with_their_precision_and_undated_notes_are_reported(
    pool: ConnectionPool, embedder: Embedder, tenant: str, notes_dir: Path
) -> None:
    report = ingest_paths(pool, embedder, [str(notes_dir)], options=IngestOptions(tenant=tenant))
    assert not report.failed
    warned = {o.source.rsplit("/", 1)[-1]: " ".join(o.warnings) for o in report.outcomes}
    assert "no meeting date" in warned["ietf-114.md"] and not warned["http-wg-minutes.md"]
    meetings = _by_title(pool, tenant)
    assert meetings["HTTP WG Minutes: October 2022"].when == "October 2022"  # type: ignore[attr-defined]
    assert meetings["Interim (30/01/13 - 01/02/13)"].when == "2013-01-30 – 2013-02-01"  # type: ignore[attr-defined]
    # the interim's 30/01 shows this tenant writes the day first, which decides 04/05/2021
    assert meetings["Sync 04/05/2021"].date_start == date(2021, 5, 4)  # type: ignore[attr-defined]
    assert list(_by_title(pool, tenant, undated=True)) == ["IETF 114"]

    # a month-dated meeting is found by any window that overlaps its month
    found = search_notes(
        pool, embedder, "cache groups", tenant=tenant, as_of=date(2023, 1, 1),
        since=date(2022, 10, 17), until=date(2022, 10, 21),
    )  # fmt: skip
    assert found.hits and found.hits[0].meeting_title == "HTTP WG Minutes: October 2022"
    assert found.hits[0].when == "October 2022"
    later = search_notes(pool, embedder, "cache groups", tenant=tenant, as_of=date(2023, 1, 1), since=date(2022, 11, 1))
    assert all(h.meeting_title != "HTTP WG Minutes: October 2022" for h in later.hits)


def test_the_cli_lists_undated_meetings_and_dates_them(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tenant: str, notes_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("MINUTEBOOK_TENANT", tenant)
    runner = CliRunner()
    ingested = runner.invoke(cli_app, ["ingest", str(notes_dir)])
    assert ingested.exit_code == 0, ingested.output
    assert "ietf-114.md: no meeting date" in ingested.output and "set-date" in ingested.output

    listed = json.loads(runner.invoke(cli_app, ["meetings", "--undated", "--json"]).output)["meetings"]
    assert [m["title"] for m in listed] == ["IETF 114"] and listed[0]["when"] == ""
    meeting_id = listed[0]["id"]
    refused = runner.invoke(cli_app, ["meetings", "set-date", str(meeting_id), "next week"])
    assert refused.exit_code == 1 and "is not a date" in refused.output
    dated = runner.invoke(cli_app, ["meetings", "set-date", str(meeting_id), "2022-07-25..2022-07-29"])
    assert dated.exit_code == 0 and "2022-07-25 – 2022-07-29" in dated.output
    assert json.loads(runner.invoke(cli_app, ["meetings", "--undated", "--json"]).output)["meetings"] == []
    found = search_notes(
        pool, embedder, "QUIC datagram", tenant=tenant, as_of=date(2023, 1, 1),
        since=date(2022, 7, 27), until=date(2022, 7, 27),
    )  # fmt: skip
    assert found.hits and found.hits[0].meeting_title == "IETF 114"

    # `ingest --date` on a note stored already dates it without re-reading anything else
    again = runner.invoke(cli_app, ["ingest", str(notes_dir / "ietf-114.md"), "--date", "2022-07-26", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["files"][0]["detail"] == "dated 2022-07-26"
    listed = {m["title"]: m for m in json.loads(runner.invoke(cli_app, ["meetings", "--json"]).output)["meetings"]}
    assert (listed["IETF 114"]["when"], listed["IETF 114"]["date_source"]) == ("2022-07-26", "given")
    assert listed["HTTP WG Minutes: October 2022"]["when"] == "October 2022"
    bad = runner.invoke(cli_app, ["ingest", str(notes_dir), "--date", "someday"])
    assert bad.exit_code == 1 and "--date" in bad.output


def test_patching_a_date_drops_the_answers_that_depended_on_it(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tenant: str, notes_dir: Path,
    llm_server: LLMServer, tmp_path: Path,
) -> None:  # fmt: skip
    llm_server.reset()
    ingest_paths(pool, embedder, [str(notes_dir)], options=IngestOptions(tenant=tenant))
    settings = Settings(home=tmp_path, openai_base_url=llm_server.base_url, openai_api_key="t")
    client = TestClient(create_app(Runtime(settings, pg_url, pool, embedder)), raise_server_exceptions=False)
    with psycopg.connect(pg_url) as conn:
        headers = {"Authorization": f"Bearer {create_key(conn, tenant)[1]}"}

    undated = client.get("/v1/meetings", params={"undated": "true"}, headers=headers).json()["meetings"]
    assert [m["title"] for m in undated] == ["IETF 114"]
    meeting_id = undated[0]["id"]
    windowed = {"question": "What did we review in 2022?", "as_of": "2023-01-01"}
    unrelated = {"question": "What about header compression tables?", "as_of": "2023-01-01"}
    for question in (windowed, unrelated):
        assert client.post("/v1/ask", json=question, headers=headers).json()["mode"] == "llm"
    assert client.get("/v1/cache/stats", headers=headers).json()["entries"] == 2

    assert client.patch(f"/v1/meetings/{meeting_id}", json={"date": "soon"}, headers=headers).status_code == 422
    assert client.patch("/v1/meetings/999999999", json={"date": "2022-07-26"}, headers=headers).status_code == 404
    patched = client.patch(f"/v1/meetings/{meeting_id}", json={"date": "2022-07-26"}, headers=headers)
    assert patched.status_code == 200 and patched.json()["when"] == "2022-07-26"
    assert patched.json()["date_source"] == "given"
    # the 2022 answer could not have seen this meeting: it is dropped; the other one stays
    assert client.get("/v1/cache/stats", headers=headers).json()["entries"] == 1
    answer = client.post("/v1/ask", json=windowed, headers=headers).json()
    assert answer["mode"] == "llm" and not answer["cache"]["hit"]
