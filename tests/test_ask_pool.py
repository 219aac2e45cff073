"""Slow LLMs must not take the database from anyone: no pooled connection is held while an LLM
works, a stream whose client left is cancelled (and counted against its tenant until it ends),
every paid call reaches the ledger, and database trouble in a stream is a 503 to retry."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import TPM_NOTE
from fastapi.testclient import TestClient
from live_server import LiveServer
from llm_server import LLMServer
from psycopg_pool import ConnectionPool
from test_web import _csrf, sign_in

from minutebook.api.app import create_app
from minutebook.api.keys import create_key
from minutebook.api.runtime import Runtime
from minutebook.cache.prices import PriceTable
from minutebook.core.database import open_app_pool, tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import DatabaseError, LLMError
from minutebook.core.llm import LLMClient
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.answer import AskOptions, ask

PRICES = PriceTable.load()


def asking(tenant: str) -> AskOptions:
    return AskOptions(tenant=tenant, as_of=date(2025, 10, 29))


SMALL_POOL = 2  # far fewer connections than slow answers in flight
CONCURRENT_ASKS = 16
DROPPED_STREAMS = 8
GENEROUS = 120.0  # seconds to wait for an event that, once the fix works, comes at once
QUESTIONS = [
    "When will Okta SSO be ready?", "Who owns the read replicas?", "What is the AWS bill doing?",
    "Who owns the log retention work?", "When is Google SSO ready?", "What did sales ask for?",
    "Who owns the Okta integration?", "What happened to the Google SSO timeline?", "Why is the AWS bill up?",
    "What did the performance test show?", "What was decided about Black Friday?", "Who leads the backend?",
    "What are the open risks?", "What is the status of Microsoft SSO?", "Who owns the AWS cost optimisation?",
    "What did the load test show?",
]  # fmt: skip


def wait_for(event: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GENEROUS
    while not event():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def rows(pool: ConnectionPool, tenant: str, sql: str) -> list[tuple[Any, ...]]:
    with tenant_transaction(pool, tenant) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as s:
        yield s


@pytest.fixture
def small_pool(pg_url: str) -> Iterator[ConnectionPool]:
    pool = open_app_pool(pg_url, min_size=1, max_size=SMALL_POOL)
    yield pool
    pool.close()


@pytest.fixture
def two_tenants(pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer) -> tuple[str, str]:
    llm_server.reset()
    tenants = (f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}")
    for t in tenants:
        assert not ingest_paths(pool, embedder, [str(TPM_NOTE)], options=IngestOptions(tenant=t)).failed
    return tenants


def app_settings(tmp_path: Path, llm_server: LLMServer, **more: Any) -> Settings:
    return Settings(
        home=tmp_path, openai_base_url=llm_server.base_url, openai_api_key="t", llm_timeout=GENEROUS,
        pool_max_size=SMALL_POOL, **more,
    )  # fmt: skip


def key(pg_url: str, tenant: str) -> dict[str, str]:
    with psycopg.connect(pg_url) as conn:
        return {"Authorization": f"Bearer {create_key(conn, tenant)[1]}"}


def test_slow_llm_answers_leave_the_pool_to_other_tenants(
    pg_url: str, small_pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer, two_tenants: tuple[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    a, b = two_tenants
    llm = LLMClient(model="gpt-4o-mini", base_url=llm_server.base_url, timeout=GENEROUS, max_retries=0)
    modes: dict[str, str] = {}
    llm_server.hold()  # every LLM request waits until released

    def one(question: str) -> None:
        answer = ask(small_pool, embedder, llm, PRICES, question, options=asking(a))
        modes[question] = answer.mode

    threads = [threading.Thread(target=one, args=(q,)) for q in QUESTIONS[:CONCURRENT_ASKS]]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: llm_server.request_count + len(modes) == CONCURRENT_ASKS, "every ask at the LLM at once")
        client = TestClient(create_app(Runtime(app_settings(tmp_path, llm_server), pg_url, small_pool, embedder)))
        found = client.get("/v1/search", params={"q": "read replicas"}, headers=key(pg_url, b))
        assert found.status_code == 200 and found.json()["hits"]
    finally:
        llm_server.release()
        for t in threads:
            t.join()
    assert list(modes.values()) == ["llm"] * CONCURRENT_ASKS, modes


def test_dropped_streams_are_cancelled_and_leave_the_pool_to_other_tenants(
    pg_url: str, small_pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer, two_tenants: tuple[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    a, b = two_tenants
    llm_server.token_delay = 1.0  # a slow stream: one word a second
    settings = app_settings(tmp_path, llm_server, tenant_max_concurrent=DROPPED_STREAMS)
    app = create_app(Runtime(settings, pg_url, small_pool, embedder))
    slots = app.state.minutebook.requests
    headers = {**key(pg_url, a), "Accept": "text/event-stream"}
    with LiveServer(app) as server:
        for question in QUESTIONS[:DROPPED_STREAMS]:
            with httpx.stream(
                "POST", f"{server.url}/v1/ask", json={"question": question}, headers=headers, timeout=GENEROUS
            ) as response:
                assert response.status_code == 200
                next(line for line in response.iter_lines() if line == "event: token")
            # leaving the block closes the connection: the client is gone mid-answer
        found = httpx.get(f"{server.url}/v1/search", params={"q": "read replicas"}, headers=key(pg_url, b))
        assert found.status_code == 200 and found.json()["hits"]
        sql = "SELECT outcome, completion_tokens, cost_usd FROM llm_calls WHERE outcome = 'cancelled'"
        wait_for(lambda: len(rows(small_pool, a, sql)) == DROPPED_STREAMS, "every dropped answer cancelled")
        cancelled = rows(small_pool, a, sql)
        assert all(tokens > 0 and cost > 0 for _, tokens, cost in cancelled)  # what was received is billed
        wait_for(lambda: slots.in_flight(a) == 0, "the cancelled answers giving their tenant's slots back")
    assert llm_server.request_count == DROPPED_STREAMS  # none retried


def test_a_stream_cut_upstream_is_billed_for_what_was_received(
    pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer, two_tenants: tuple[str, str]
) -> None:
    a, _ = two_tenants
    llm = LLMClient(model="gpt-4o-mini", base_url=llm_server.base_url, timeout=GENEROUS, max_retries=3)
    llm_server.fail_next("drop")
    shown: list[str] = []
    with pytest.raises(LLMError, match="mid-stream"):
        ask(pool, embedder, llm, PRICES, QUESTIONS[0], options=asking(a),
            on_token=shown.append)  # fmt: skip
    ((outcome, tokens, cost),) = rows(pool, a, "SELECT outcome, completion_tokens, cost_usd FROM llm_calls")
    assert shown and outcome != "ok" and tokens > 0 and cost > 0


class FailingPool:
    """Makes `pool.getconn` raise once `broken()` says so, `times` times (None: always)."""

    def __init__(self, pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch, broken: Callable[[], bool]) -> None:
        self.times: int | None = None
        self.failed = 0
        real = pool.getconn

        def getconn(timeout: float | None = None) -> psycopg.Connection:
            if broken() and (self.times is None or self.failed < self.times):
                self.failed += 1
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return real(timeout)

        monkeypatch.setattr(pool, "getconn", getconn)


def test_a_paid_answer_reaches_the_ledger_when_the_database_fails_once(
    small_pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer, two_tenants: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    a, _ = two_tenants
    llm = LLMClient(model="gpt-4o-mini", base_url=llm_server.base_url, timeout=GENEROUS)
    failing = FailingPool(small_pool, monkeypatch, lambda: llm_server.request_count > 0)
    failing.times = 1
    answer = ask(small_pool, embedder, llm, PRICES, QUESTIONS[0], options=asking(a))
    assert failing.failed == 1 and answer.mode == "llm" and answer.cost_usd
    assert rows(small_pool, a, "SELECT outcome, cost_usd FROM llm_calls") == [("ok", answer.cost_usd)]
    assert rows(small_pool, a, "SELECT outcome FROM questions") == [("llm",)]


def test_a_ledger_write_that_keeps_failing_is_logged_and_retryable(
    small_pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer, two_tenants: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    a, _ = two_tenants
    llm = LLMClient(model="gpt-4o-mini", base_url=llm_server.base_url, timeout=GENEROUS)
    FailingPool(small_pool, monkeypatch, lambda: llm_server.request_count > 0)
    with caplog.at_level(logging.ERROR), pytest.raises(DatabaseError, match="try again"):
        ask(small_pool, embedder, llm, PRICES, QUESTIONS[0], options=asking(a))
    lost = [r.getMessage() for r in caplog.records if "LEDGER WRITE LOST" in r.getMessage()]
    assert len(lost) == 1 and "outcome='ok'" in lost[0] and "completion_tokens=" in lost[0]


def sse(body: str) -> list[tuple[str, Any]]:
    return [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in body.strip().split("\n\n")
    ]


def test_database_trouble_in_a_stream_is_a_503_to_retry(
    pg_url: str, small_pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer, two_tenants: tuple[str, str],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    a, _ = two_tenants
    client = TestClient(create_app(Runtime(app_settings(tmp_path, llm_server), pg_url, small_pool, embedder)))
    headers = {**key(pg_url, a), "Accept": "text/event-stream"}
    FailingPool(small_pool, monkeypatch, lambda: llm_server.request_count > 0)  # down once the LLM started
    events = sse(client.post("/v1/ask", json={"question": QUESTIONS[0]}, headers=headers).text)
    assert "".join(data for kind, data in events if kind == "token").startswith("According to")
    kind, problem = events[-1]
    assert kind == "error" and problem["status"] == 503 and problem["retry"] is True
    assert problem["title"] == "Service unavailable" and "try again" in problem["detail"]


def test_database_trouble_during_a_web_answer_says_try_again(
    pg_url: str, small_pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer, two_tenants: tuple[str, str],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    a, _ = two_tenants
    app = create_app(Runtime(app_settings(tmp_path, llm_server), pg_url, small_pool, embedder))
    client = TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1")
    sign_in(client, key(pg_url, a)["Authorization"].removeprefix("Bearer "))
    token = _csrf(client.get("/").text)
    FailingPool(small_pool, monkeypatch, lambda: llm_server.request_count > 0)
    page = client.post("/ask", data={"question": QUESTIONS[0], "csrf": token})
    assert page.status_code == 503 and "try again" in page.text
