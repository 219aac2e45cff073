"""The HTTP API through the real app, the real database (as the app role, under row-level
security) and the loopback LLM server."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Q4_NOTE, TPM_NOTE
from fastapi import FastAPI
from fastapi.testclient import TestClient
from llm_server import LLMServer
from psycopg_pool import ConnectionPool

from minutebook.api.app import create_app
from minutebook.api.keys import KeyResolver, create_key, require_keys_off_loopback
from minutebook.api.runtime import Runtime
from minutebook.core.database import open_app_pool
from minutebook.core.embedder import Embedder
from minutebook.core.errors import ConfigError
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings

AS_OF = "2025-10-29"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as s:
        yield s


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, llm_server: LLMServer, tmp_path: Path
) -> AppFactory:
    llm_server.reset()

    def build(keyless_tenant: str | None = None, **overrides: object) -> FastAPI:
        defaults: dict[str, object] = {
            "home": tmp_path,
            "openai_base_url": llm_server.base_url,
            "openai_api_key": "test",
            "llm_timeout": 30.0,  # generous: a loaded machine must not turn a loopback answer into a timeout
            "llm_max_retries": 0,
            "rate_per_second": 1000.0,
            "rate_burst": 1000,
            "metrics_token": "operator-token",
        }
        settings = Settings(**{**defaults, **overrides})  # type: ignore[arg-type]
        return create_app(Runtime(settings, pg_url, pool, embedder), keyless_tenant=keyless_tenant)

    return build


def new_key(pg_url: str, tenant: str) -> dict[str, str]:
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, tenant, "test")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def acme(pg_url: str) -> tuple[str, dict[str, str]]:
    tenant = f"acme{uuid.uuid4().hex[:8]}"
    return tenant, new_key(pg_url, tenant)


@pytest.fixture
def client(make_app: AppFactory) -> TestClient:
    return TestClient(make_app(), raise_server_exceptions=False)


def upload(client: TestClient, headers: dict[str, str], *paths: Path) -> dict:
    files = [("files", (p.name, p.read_bytes(), "text/plain")) for p in paths]
    response = client.post("/v1/ingest", files=files, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def assert_problem(response, status: int, says: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and says in body["detail"]
    assert "Traceback" not in response.text


def test_ingest_multipart_and_json_report_each_file(client: TestClient, acme: tuple[str, dict]) -> None:
    _, headers = acme
    first = upload(client, headers, TPM_NOTE, Q4_NOTE)
    assert [f["status"] for f in first["files"]] == ["new", "new"]
    assert first["counts"] == {"new": 2, "updated": 0, "unchanged": 0, "failed": 0}
    again = upload(client, headers, TPM_NOTE)
    assert again["files"][0]["status"] == "unchanged"

    body = {
        "notes": [
            {
                "name": "2025-11-03-sync.md",
                "text": "# Sync - Nov 3, 2025\n\n## Action Items\n- Ravi: rotate keys by Nov 7\n",
            },
            {"name": "empty.md", "text": "   "},
            {"name": "diagram.png", "text": "x"},
        ]
    }
    response = client.post("/v1/ingest", json=body, headers=headers)
    assert response.status_code == 200
    files = {f["source"]: f for f in response.json()["files"]}
    assert files["2025-11-03-sync.md"]["status"] == "new"
    assert files["empty.md"]["status"] == "failed" and "empty" in files["empty.md"]["error"]
    assert files["diagram.png"]["status"] == "failed" and "unsupported" in files["diagram.png"]["error"]

    binary = client.post(
        "/v1/ingest", files=[("files", ("notes.md", b"\x00\x01\x02" * 100, "text/plain"))], headers=headers
    )
    assert binary.json()["files"][0]["status"] == "failed"
    assert_problem(
        client.post("/v1/ingest", content=b"hello", headers={**headers, "content-type": "text/plain"}), 415, "multipart"
    )
    assert_problem(
        client.post("/v1/ingest", content=b"{not json", headers={**headers, "content-type": "application/json"}),
        422,
        "JSON",
    )


def test_meetings_search_owners_items_and_query(client: TestClient, acme: tuple[str, dict]) -> None:
    _, headers = acme
    upload(client, headers, TPM_NOTE, Q4_NOTE)

    meetings = client.get("/v1/meetings", headers=headers).json()["meetings"]
    assert [m["date_start"] for m in meetings] == ["2025-10-21", "2024-11-15"]
    tpm = client.get(f"/v1/meetings/{meetings[0]['id']}", headers=headers).json()
    assert any("Okta" in i["text"] for i in tpm["items"])
    q4 = client.get(f"/v1/meetings/{meetings[1]['id']}", headers=headers).json()
    assert {a["name"] for a in q4["attendees"]} == {"Sarah Chen", "Mike Rodriguez", "Alice Park", "David Kim"}
    assert_problem(client.get("/v1/meetings/999999999", headers=headers), 404, "no meeting")

    found = client.get("/v1/search", params={"q": "SSO integration status", "k": 3}, headers=headers).json()
    assert len(found["hits"]) == 3 and "SSO" in found["hits"][0]["text"]
    windowed = client.get(
        "/v1/search", params={"q": "risks", "since": "2025-10-24", "until": "2025-10-24"}, headers=headers
    ).json()
    # a passage counts when the day or span it speaks of (a section of the Oct 21-25 week) holds the window
    assert windowed["hits"] and all(
        h["section_date"] <= "2025-10-24" <= (h["section_date_end"] or h["section_date"]) for h in windowed["hits"]
    )
    assert any(h["section_date"] == "2025-10-24" for h in windowed["hits"])

    owner = client.get("/v1/owners", params={"topic": "Okta SSO"}, headers=headers).json()
    assert owner["found"] and owner["item"]["owners"][0]["name"].startswith("Sarah")
    assert owner["item"]["due_date"] == "2025-11-15"
    nothing = client.get("/v1/owners", params={"topic": "quantum teleportation roadmap"}, headers=headers).json()
    assert nothing["found"] is False

    mikes = client.get("/v1/action-items", params={"owner": "Mike", "due_before": "2025-10-31"}, headers=headers)
    texts = [i["text"] for i in mikes.json()["items"]]
    assert any("read replica" in t.lower() for t in texts)

    lookup = client.post("/v1/query", json={"query": "SQL SELECT count(*) AS n FROM meetings"}, headers=headers)
    assert lookup.json()["rows"] == [[2]]
    assert_problem(client.post("/v1/query", json={"query": "SQL DELETE FROM meetings"}, headers=headers), 400, "")


def test_keys_are_required_and_unknown_keys_refused(client: TestClient, acme: tuple[str, dict]) -> None:
    assert_problem(client.get("/v1/meetings"), 401, "API key")
    assert_problem(client.get("/v1/meetings", headers={"Authorization": "Bearer mbk_nope"}), 401, "unknown")
    _, headers = acme
    key = headers["Authorization"].split()[1]
    assert client.get("/v1/meetings", headers={"X-API-Key": key}).status_code == 200


def test_tenant_b_never_sees_tenant_a(client: TestClient, acme: tuple[str, dict], pg_url: str) -> None:
    _, a = acme
    b = new_key(pg_url, f"other{uuid.uuid4().hex[:8]}")
    upload(client, a, TPM_NOTE)
    meeting_id = client.get("/v1/meetings", headers=a).json()["meetings"][0]["id"]
    asked = client.post("/v1/ask", json={"question": "When will Okta SSO be ready?", "as_of": AS_OF}, headers=a)
    assert asked.json()["mode"] == "llm"

    assert client.get("/v1/meetings", headers=b).json()["meetings"] == []
    assert client.get(f"/v1/meetings/{meeting_id}", headers=b).status_code == 404
    assert client.get("/v1/search", params={"q": "Okta SSO"}, headers=b).json()["hits"] == []
    assert client.get("/v1/owners", params={"topic": "Okta SSO"}, headers=b).json()["found"] is False
    assert client.get("/v1/action-items", headers=b).json()["items"] == []
    for sql in (
        "SELECT count(*) FROM meetings",
        "SELECT count(*) FROM cache_entries",
        "SELECT count(*) FROM llm_calls",
    ):
        assert client.post("/v1/query", json={"query": f"SQL {sql}"}, headers=b).json()["rows"] == [[0]]
    sneaky = "SQL SELECT set_config('minutebook.tenant', 'x', true)"
    assert client.post("/v1/query", json={"query": sneaky}, headers=b).status_code == 400
    theirs = client.post("/v1/ask", json={"question": "When will Okta SSO be ready?", "as_of": AS_OF}, headers=b).json()
    assert theirs["mode"] == "not_in_notes" and not theirs["cache"]["hit"]
    assert client.get("/v1/cache/stats", headers=b).json()["entries"] == 0
    assert client.get("/v1/cost/report", headers=b).json()["totals"]["llm_calls"] == 0


def test_ask_json_then_cached_then_streamed(client: TestClient, acme: tuple[str, dict], llm_server: LLMServer) -> None:
    _, headers = acme
    upload(client, headers, TPM_NOTE)
    body = {"question": "When will Okta SSO be ready?", "as_of": AS_OF}
    first = client.post("/v1/ask", json=body, headers=headers).json()
    assert first["mode"] == "llm" and "Nov 15" in first["text"] and first["citations"]
    assert first["cache"]["stored"] and first["cost_usd"] > 0

    again = client.post("/v1/ask", json=body, headers=headers).json()
    assert again["mode"] == "cached" and again["cache"]["hit"] and again["cache"]["tier"] == "exact"
    assert llm_server.request_count == 1

    with client.stream(
        "POST", "/v1/ask", json={**body, "use_cache": False}, headers={**headers, "accept": "text/event-stream"}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [block for block in r.read().decode().split("\n\n") if block]
    kinds = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert kinds.count("token") > 1 and kinds[-1] == "answer"
    streamed = "".join(json.loads(e.split("data: ", 1)[1]) for e in events if e.startswith("event: token"))
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert streamed == final["text"] and final["mode"] == "llm"

    stats = client.get("/v1/cache/stats", headers=headers).json()
    assert stats["entries"] >= 1 and stats["hits"] >= 1
    report = client.get("/v1/cost/report", params={"since": "30d"}, headers=headers).json()
    assert report["totals"]["llm_calls"] == 2
    by_model = client.get("/v1/cost/report", params={"by": "model"}, headers=headers).json()
    group = next(g for g in by_model["groups"] if g["key"] == "gpt-4o-mini")
    assert group["llm_calls"] == 2 and group["saved_usd"] > 0
    assert client.delete("/v1/cache", headers=headers).json()["cleared"] >= 1
    assert client.get("/v1/cache/stats", headers=headers).json()["entries"] == 0

    metrics = client.get("/metrics", headers={"Authorization": "Bearer operator-token"}).text
    assert 'minutebook_cache_hits_total{tier="exact"}' in metrics
    assert "minutebook_llm_cost_usd_total" in metrics and "minutebook_request_seconds_bucket" in metrics


def test_a_cached_answer_can_be_rejected(
    client: TestClient, acme: tuple[str, dict], llm_server: LLMServer, pg_url: str
) -> None:
    _, headers = acme
    upload(client, headers, TPM_NOTE)
    body = {"question": "Who owns the read replicas?", "as_of": AS_OF}
    first = client.post("/v1/ask", json=body, headers=headers).json()
    entry = first["cache"]["entry_id"]
    hit = client.post("/v1/ask", json=body, headers=headers).json()["cache"]
    assert hit["hit"] and f"POST /v1/cache/{entry}/reject" in hit["how_to_reject"]
    intruder = new_key(pg_url, f"globex{uuid.uuid4().hex[:8]}")  # another tenant cannot reject it
    assert_problem(client.post(f"/v1/cache/{entry}/reject", headers=intruder), 404, "no cached answer")
    assert client.post("/v1/ask", json=body, headers=headers).json()["cache"]["hit"]
    done = client.post(f"/v1/cache/{entry}/reject", json={"reason": "Mike handed it over"}, headers=headers)
    assert done.status_code == 200 and done.json()["rejected"] == entry and done.json()["intent"] == "who"
    assert_problem(client.post(f"/v1/cache/{entry}/reject", headers=headers), 404, "no cached answer")
    assert_problem(client.post("/v1/cache/1/reject", json={"why": "x"}, headers=headers), 422, "")
    again = client.post("/v1/ask", json=body, headers=headers).json()
    assert again["mode"] == "llm" and not again["cache"]["stored"] and llm_server.request_count == 2
    assert client.get("/v1/cache/stats", headers=headers).json()["rejected"] == 1


def test_cache_stats_say_why_a_verifier_may_not_judge_near_matches(
    client: TestClient, acme: tuple[str, dict], llm_server: LLMServer
) -> None:
    _, headers = acme
    upload(client, headers, TPM_NOTE)
    llm_server.verdict = "yes"  # to everything, the canaries included
    client.post("/v1/ask", json={"question": "When will Okta SSO be ready?", "as_of": AS_OF}, headers=headers)
    near = client.post("/v1/ask", json={"question": "okta sso eta", "as_of": AS_OF}, headers=headers).json()
    assert near["mode"] == "llm" and "grey zone is off" in near["cache"]["miss_reason"]
    (verifier,) = client.get("/v1/cache/stats", headers=headers).json()["verifiers"]
    assert verifier["model"] == "gpt-4o-mini" and verifier["trusted"] is False and "(canary)" in verifier["reason"]
    report = client.get("/v1/cost/report", headers=headers).json()["totals"]
    assert report["canary_calls"] >= 1


def test_llm_failure_is_a_502_and_nothing_is_cached(
    client: TestClient, acme: tuple[str, dict], llm_server: LLMServer
) -> None:
    _, headers = acme
    upload(client, headers, TPM_NOTE)
    llm_server.fail_next("500")
    response = client.post("/v1/ask", json={"question": "Who owns the read replicas?", "as_of": AS_OF}, headers=headers)
    assert_problem(response, 502, "")
    assert client.get("/v1/cache/stats", headers=headers).json()["entries"] == 0


def test_spent_budget_falls_back_to_cached_or_extractive(
    make_app: AppFactory, acme: tuple[str, dict], llm_server: LLMServer
) -> None:
    _, headers = acme
    client = TestClient(make_app(monthly_budget_usd=0.0), raise_server_exceptions=False)
    upload(client, headers, TPM_NOTE)
    answer = client.post("/v1/ask", json={"question": "Who owns Okta SSO?", "as_of": AS_OF}, headers=headers).json()
    assert answer["mode"] == "extractive" and "budget" in answer["notice"] and answer["citations"]
    assert llm_server.request_count == 0


def test_rate_limit_answers_429_with_retry_after(make_app: AppFactory, acme: tuple[str, dict], pg_url: str) -> None:
    _, headers = acme
    client = TestClient(make_app(rate_per_second=0.5, rate_burst=2), raise_server_exceptions=False)
    assert [client.get("/v1/meetings", headers=headers).status_code for _ in range(2)] == [200, 200]
    limited = client.get("/v1/meetings", headers=headers)
    assert_problem(limited, 429, "rate limit")
    assert int(limited.headers["Retry-After"]) >= 1
    other = new_key(pg_url, f"other{uuid.uuid4().hex[:8]}")  # buckets are per tenant
    assert client.get("/v1/meetings", headers=other).status_code == 200


def test_invalid_input_is_a_4xx_problem(make_app: AppFactory, acme: tuple[str, dict]) -> None:
    _, headers = acme
    client = TestClient(make_app(max_request_bytes=2_000), raise_server_exceptions=False)
    assert_problem(client.get("/v1/search", params={"q": "x", "k": 0}, headers=headers), 422, "k")
    assert_problem(client.get("/v1/search", params={"q": ""}, headers=headers), 422, "q")
    assert_problem(client.get("/v1/action-items", params={"status": "maybe"}, headers=headers), 422, "status")
    assert_problem(client.get("/v1/meetings", params={"since": "last tuesday"}, headers=headers), 422, "since")
    assert_problem(client.post("/v1/ask", json={"question": ""}, headers=headers), 422, "question")
    assert_problem(
        client.post("/v1/ask", content=b"[", headers={**headers, "content-type": "application/json"}), 422, ""
    )
    big = {"notes": [{"name": "big.md", "text": "word " * 1000}]}
    assert_problem(client.post("/v1/ingest", json=big, headers=headers), 413, "bytes")
    assert_problem(client.get("/v1/nowhere", headers=headers), 404, "")
    assert_problem(client.get("/v1/action-items", params={"owner": "a\x00b"}, headers=headers), 400, "NUL")


def test_health_and_readiness(client: TestClient, embedder: Embedder) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    embedder.encode_one("warm")
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "model": "ok",
    }
    schema = client.get("/openapi.json").json()
    for path in ("/v1/ingest", "/v1/ask", "/v1/owners", "/v1/action-items", "/v1/cost/report", "/v1/cache"):
        assert path in schema["paths"]
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs and refs <= set(schema["components"]["schemas"]), "a $ref points at nothing"
    examples = json.dumps(schema["paths"]["/v1/ingest"]["post"]["requestBody"])
    assert "multipart/form-data" in examples and "2025-11-03-platform-sync.md" in examples


def test_keyless_only_on_loopback_and_only_until_a_key_exists(
    blank_db_url: str, embedder: Embedder, tmp_path: Path
) -> None:
    migrate(blank_db_url)
    with open_app_pool(blank_db_url, min_size=1, max_size=2) as pool:
        resolver = KeyResolver(pool, ttl=0)
        with pytest.raises(ConfigError, match="without API keys"):
            require_keys_off_loopback("0.0.0.0", resolver)
        require_keys_off_loopback("127.0.0.1", resolver)

        app = create_app(Runtime(Settings(home=tmp_path), blank_db_url, pool, embedder), keyless_tenant="local")
        app.state.minutebook.keys.ttl = 0
        client = TestClient(app, raise_server_exceptions=False)
        assert client.get("/v1/meetings").status_code == 200
        headers = new_key(blank_db_url, "acme")
        assert client.get("/v1/meetings").status_code == 401  # once keys exist, every request needs one
        assert client.get("/v1/meetings", headers=headers).status_code == 200
        require_keys_off_loopback("0.0.0.0", resolver)


def test_app_role_cannot_bypass_row_level_security(pool: ConnectionPool) -> None:
    with pool.connection() as conn:
        super_, bypass = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()  # type: ignore[misc]
        assert (super_, bypass) == (False, False)
        assert conn.execute("SELECT count(*) FROM meetings").fetchone() == (0,)  # no tenant set: nothing
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM api_keys")
