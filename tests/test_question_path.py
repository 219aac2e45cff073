"""The question path as every entry point shares it: a stream cut mid-answer is never replayed,
and the monthly budget holds for the CLI as it does for the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import TPM_NOTE
from fastapi.testclient import TestClient
from llm_server import LLMServer
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from minutebook.api.app import create_app
from minutebook.api.cli import app as cli_app
from minutebook.api.keys import create_key
from minutebook.api.runtime import Runtime
from minutebook.core.embedder import Embedder
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

QUESTION = "When will Okta SSO be ready?"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as s:
        yield s


@pytest.fixture
def notes(pool: ConnectionPool, embedder: Embedder, tenant: str, llm_server: LLMServer) -> str:
    llm_server.reset()
    report = ingest_paths(pool, embedder, [str(TPM_NOTE)], options=IngestOptions(tenant=tenant))
    assert not report.failed
    return tenant


def api(pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path, llm: LLMServer, **more: object):  # type: ignore[no-untyped-def]
    settings = Settings(
        home=tmp_path,
        openai_base_url=llm.base_url,
        openai_api_key="t",
        llm_max_retries=3,
        **more,  # type: ignore[arg-type]
    )
    return TestClient(create_app(Runtime(settings, pg_url, pool, embedder)), raise_server_exceptions=False)


def key(pg_url: str, tenant: str) -> dict[str, str]:
    with psycopg.connect(pg_url) as conn:
        return {"Authorization": f"Bearer {create_key(conn, tenant)[1]}"}


def cli(pg_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("MINUTEBOOK_TENANT", tenant)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def test_a_stream_cut_mid_answer_is_not_replayed_over_sse(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path, llm_server: LLMServer, notes: str
) -> None:
    client = api(pg_url, pool, embedder, tmp_path, llm_server)
    headers = {**key(pg_url, notes), "Accept": "text/event-stream"}
    llm_server.fail_next("drop")
    with client.stream("POST", "/v1/ask", json={"question": QUESTION}, headers=headers) as response:
        events = [
            (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
            for block in response.read().decode().strip().split("\n\n")
        ]
    tokens = "".join(data for kind, data in events if kind == "token")
    assert tokens.startswith("According to") and tokens.count("According") == 1  # shown once, not again
    assert events[-1][0] == "error" and "mid-stream" in events[-1][1]["detail"]
    assert llm_server.request_count == 1  # not retried after tokens went out
    stats = client.get("/v1/cache/stats", headers=headers).json()
    assert stats["entries"] == 0
    totals = client.get("/v1/cost/report", headers=headers).json()["totals"]
    assert totals["failed_calls"] == 1 and totals["llm_calls"] == 1


def test_a_stream_cut_mid_answer_is_not_replayed_in_the_cli(
    pg_url: str, llm_server: LLMServer, notes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = cli(pg_url, notes, monkeypatch, OPENAI_BASE_URL=llm_server.base_url, MINUTEBOOK_LLM_MAX_RETRIES="3")
    llm_server.fail_next("drop")
    result = runner.invoke(cli_app, ["ask", QUESTION])
    assert result.exit_code == 1
    assert result.output.count("According to") == 1 and "mid-stream" in result.output
    assert llm_server.request_count == 1
    again = runner.invoke(cli_app, ["ask", QUESTION, "--json"])  # nothing was cached: a new, whole answer
    answer = json.loads(again.output)
    assert answer["mode"] == "llm" and not answer["cache"]["hit"] and llm_server.request_count == 2


def test_a_spent_budget_holds_in_the_cli_too(
    pg_url: str, llm_server: LLMServer, notes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = cli(pg_url, notes, monkeypatch, OPENAI_BASE_URL=llm_server.base_url, MINUTEBOOK_MONTHLY_BUDGET_USD="0")
    result = runner.invoke(cli_app, ["ask", QUESTION, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["mode"] == "extractive" and "budget" in answer["notice"] and answer["citations"]
    assert llm_server.request_count == 0
    monkeypatch.setenv("MINUTEBOOK_MONTHLY_BUDGET_USD", "100")
    assert json.loads(runner.invoke(cli_app, ["ask", QUESTION, "--json"]).output)["mode"] == "llm"


def test_a_spent_budget_holds_in_the_api(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path, llm_server: LLMServer, notes: str
) -> None:
    client = api(pg_url, pool, embedder, tmp_path, llm_server, monthly_budget_usd=0.0)
    answer = client.post("/v1/ask", json={"question": QUESTION}, headers=key(pg_url, notes)).json()
    assert answer["mode"] == "extractive" and "budget" in answer["notice"]
    assert llm_server.request_count == 0
