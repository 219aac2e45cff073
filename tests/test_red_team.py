"""Findings of the second red-team review (issue 23) about who may reach what: each test here
reproduced the finding before its fix.

* item 4: a keyless loopback server took cross-site writes and answered any Host (DNS rebinding);
* item 8: SQL mode read other sessions' locks, transaction ids and sequence positions;
* item 10: signing out left copies of the session cookie working until they expired.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import TPM_NOTE
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from minutebook.api.app import create_app
from minutebook.api.keys import create_key
from minutebook.api.runtime import Runtime
from minutebook.api.web_session import SESSION_COOKIE
from minutebook.core.database import open_app_pool
from minutebook.core.embedder import Embedder
from minutebook.core.errors import QueryError
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.sql_mode import run_sql

PORT = 8765  # the port the test clients pretend to serve on (the Host a browser would send)
SERVED = f"http://127.0.0.1:{PORT}"
ATTACKER = "http://attacker.example"
# what a browser adds to a request a page on another site makes (fetch with mode 'no-cors', a form)
CROSS_SITE = {"Origin": ATTACKER, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
NOTE = "# Rebinding sync - Nov 18, 2025\n\n## Action Items\n- Mallory: exfiltrate the notes by Nov 20\n"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def _note_files() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", ("2025-11-18-rebinding.md", NOTE.encode(), "text/markdown"))]


def assert_problem(response: Any, status: int, says: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert says in response.json()["detail"]


@pytest.fixture
def keyless(blank_db_url: str, embedder: Embedder, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    """A server as `minutebook serve` runs it on 127.0.0.1 before any key exists: (client, url)."""
    migrate(blank_db_url)
    with open_app_pool(blank_db_url, min_size=1, max_size=4) as small:
        settings = Settings(home=tmp_path, rate_per_second=1000.0, rate_burst=1000)
        app = create_app(Runtime(settings, blank_db_url, small, embedder), keyless_tenant="local")
        yield TestClient(app, raise_server_exceptions=False, base_url=SERVED), blank_db_url


def _stored_notes(client: TestClient) -> int:
    response = client.get("/v1/meetings")
    assert response.status_code == 200, response.text
    return len(response.json()["meetings"])


# -- item 4: cross-site writes and foreign Host headers ------------------------------------------


def test_a_cross_site_no_cors_ingest_is_refused_and_stores_nothing(keyless: tuple[TestClient, str]) -> None:
    client, _ = keyless
    refused = client.post("/v1/ingest", files=_note_files(), headers=CROSS_SITE)
    assert_problem(refused, 403, "another site")
    # a browser that sends no Sec-Fetch-Site still names the page's origin
    assert_problem(client.post("/v1/ingest", files=_note_files(), headers={"Origin": ATTACKER}), 403, "another site")
    # another port on this machine is the same site, not the same origin (a local dev server's page)
    same_site = {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"}
    assert_problem(client.post("/v1/ingest", files=_note_files(), headers=same_site), 403, "another site")
    sandboxed = {"Origin": "null"}
    assert_problem(client.post("/v1/ingest", files=_note_files(), headers=sandboxed), 403, "another site")
    assert _stored_notes(client) == 0

    # the same request from this origin, and from a client that is no browser, is served
    own = {"Origin": SERVED, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/v1/ingest", files=_note_files(), headers=own).status_code == 200
    assert client.post("/v1/ingest", files=_note_files(), headers={"Origin": SERVED}).status_code == 200
    assert client.post("/v1/ingest", files=_note_files()).status_code == 200
    assert _stored_notes(client) == 1


def test_a_bodiless_cross_site_reject_or_delete_is_refused(keyless: tuple[TestClient, str]) -> None:
    client, _ = keyless
    assert_problem(client.post("/v1/cache/1/reject", headers=CROSS_SITE), 403, "another site")
    assert_problem(client.delete("/v1/cache", headers={"Origin": ATTACKER}), 403, "another site")
    # from this origin the request reaches the route, which knows no such entry
    assert_problem(client.post("/v1/cache/1/reject", headers={"Sec-Fetch-Site": "same-origin"}), 404, "no cached")


def test_a_cross_site_form_to_a_page_is_refused_and_the_own_form_still_works(keyless: tuple[TestClient, str]) -> None:
    client, _ = keyless
    token = _csrf(client.get("/upload").text)
    refused = client.post("/upload", data={"csrf": token}, files=_note_files(), headers=CROSS_SITE)
    assert refused.status_code == 403 and "another site" in refused.text
    assert refused.headers["content-type"].startswith("text/html")  # pages get their errors as pages
    assert _stored_notes(client) == 0
    own = {"Origin": SERVED, "Sec-Fetch-Site": "same-origin"}
    upload = client.post("/upload", data={"csrf": token}, files=_note_files(), headers=own)
    assert upload.status_code == 200 and "1 new" in upload.text


@pytest.mark.parametrize("host", ["attacker.example", f"attacker.example:{PORT}", "127.0.0.1.attacker.example", ""])
def test_a_foreign_host_gets_no_notes_from_the_api_or_the_pages(keyless: tuple[TestClient, str], host: str) -> None:
    client, _ = keyless
    assert client.post("/v1/ingest", files=_note_files()).status_code == 200
    for path in ("/v1/search?q=exfiltrate", "/v1/meetings", "/", "/search?q=exfiltrate", "/metrics"):
        response = client.get(path, headers={"Host": host})
        assert_problem(response, 421, "does not answer to the host")
        assert "Mallory" not in response.text


def test_the_served_address_and_the_loopback_names_are_answered(keyless: tuple[TestClient, str]) -> None:
    client, _ = keyless
    assert client.post("/v1/ingest", files=_note_files()).status_code == 200
    for host in (f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}", "LOCALHOST"):
        response = client.get("/v1/search?q=exfiltrate", headers={"Host": host})
        assert response.status_code == 200 and "Mallory" in response.text, host
    assert client.get("/", headers={"Host": f"localhost:{PORT}"}).status_code == 200
    # the loopback names on another port are not this server
    assert_problem(client.get("/v1/meetings", headers={"Host": "localhost:1"}), 421, "MINUTEBOOK_ALLOWED_HOSTS")


def test_allowed_hosts_admit_a_proxy_name_and_hold_any_server_to_them(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path
) -> None:
    tenant = f"rt{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, tenant, "red team")
    bearer = {"Authorization": f"Bearer {key}"}
    settings = Settings(home=tmp_path, rate_per_second=1000.0, rate_burst=1000, allowed_hosts="notes.example.com")
    client = TestClient(create_app(Runtime(settings, pg_url, pool, embedder)), raise_server_exceptions=False)
    assert client.get("/v1/meetings", headers={**bearer, "Host": "notes.example.com"}).status_code == 200
    assert client.get("/v1/meetings", headers={**bearer, "Host": "Notes.Example.com:443"}).status_code == 200
    assert client.get("/v1/meetings", headers=bearer).status_code == 200  # its own address (testserver)
    assert_problem(client.get("/v1/meetings", headers={**bearer, "Host": "attacker.example"}), 421, "host")
    # a proxy that passes its own Host: the browser's origin is the allowed name, not a foreign site
    behind_proxy = {"Origin": "https://notes.example.com"}
    assert_problem(client.post("/v1/ingest", files=_note_files(), headers=behind_proxy), 401, "API key")
    assert_problem(client.post("/v1/ingest", files=_note_files(), headers=CROSS_SITE), 403, "another site")


def test_a_request_with_a_key_is_no_ambient_credential_and_passes_from_any_origin(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path
) -> None:
    tenant = f"rt{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, tenant, "red team")
    settings = Settings(home=tmp_path, rate_per_second=1000.0, rate_burst=1000)
    client = TestClient(create_app(Runtime(settings, pg_url, pool, embedder)), raise_server_exceptions=False)
    for auth in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        stored = client.post("/v1/ingest", files=_note_files(), headers={**CROSS_SITE, **auth})
        assert stored.status_code == 200, stored.text
    # without the key the cross-site request is refused before it is even asked for one
    assert_problem(client.post("/v1/ingest", files=_note_files(), headers=CROSS_SITE), 403, "another site")


# -- item 8: SQL mode sees no other session's state ----------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM pg_locks",
        "SELECT locktype FROM pg_lock_status()",
        "SELECT txid_current()",
        "SELECT pg_current_xact_id()",
        "SELECT txid_current_snapshot()",
        "SELECT pg_current_snapshot()",
        "SELECT age(xmin) FROM meetings",
        "SELECT pg_current_wal_lsn()",
        "SELECT * FROM pg_stat_activity",
        "SELECT pg_blocking_pids(1)",
        "SELECT last_value FROM meetings_id_seq",
        "SELECT pg_sequence_last_value('meetings_id_seq')",
        "SELECT * FROM pg_sequences",
        "SELECT lastval()",
        "SELECT currval('meetings_id_seq')",
        "SELECT * FROM pg_prepared_statements",
        "SELECT pg_relation_filenode('chunks')",
        "SELECT * FROM web_sessions",
    ],
)
def test_sql_mode_cannot_see_other_sessions_locks_transaction_ids_or_sequences(
    pool: ConnectionPool, tenant: str, statement: str
) -> None:
    with pytest.raises(QueryError, match="permission denied"):
        run_sql(pool, statement, tenant=tenant)


def test_another_tenants_in_flight_answer_lock_is_invisible_and_normal_sql_still_runs(
    pool: ConnectionPool, embedder: Embedder, tenant: str
) -> None:
    ingest_paths(pool, embedder, [str(TPM_NOTE)], options=IngestOptions(tenant=tenant))
    # the single flight's lock: a session advisory lock keyed by a hash of tenant and question
    flight = "victim\x1fgpt-4o-mini\x1fwho owns the layoffs plan"
    guess = "SELECT objid FROM pg_locks WHERE locktype = 'advisory'"
    with pool.connection() as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (flight,))
        holder.commit()
        with pytest.raises(QueryError, match="permission denied"):
            run_sql(pool, guess, tenant=tenant)
        with pytest.raises(QueryError, match="permission denied"):
            run_sql(pool, "SELECT pg_try_advisory_lock(hashtextextended('victim', 0))", tenant=tenant)
        mine = run_sql(
            pool, "SELECT count(*) AS n, max(age(now(), ingested_at)) >= interval '0' FROM meetings", tenant=tenant
        )
        assert mine.rows[0] == [1, True]
        holder.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (flight,))
        holder.commit()


# -- item 10: sign-out ends every copy of the session --------------------------------------------


@pytest.fixture
def site(pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path) -> tuple[TestClient, str]:
    tenant = f"web{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, tenant, "red team")
    settings = Settings(home=tmp_path, rate_per_second=1000.0, rate_burst=1000)
    app = create_app(Runtime(settings, pg_url, pool, embedder))
    return TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1"), key


def _sign_in(client: TestClient, key: str) -> None:
    form = client.get("/sign-in").text
    signed = client.post("/sign-in", data={"key": key, "csrf": _csrf(form), "next": "/"}, follow_redirects=False)
    assert signed.status_code == 303, signed.text


def test_a_copied_session_cookie_stops_working_at_sign_out(site: tuple[TestClient, str]) -> None:
    client, key = site
    _sign_in(client, key)
    copied = client.cookies[SESSION_COOKIE]
    thief = TestClient(client.app, raise_server_exceptions=False, base_url="http://127.0.0.1")
    thief.cookies.set(SESSION_COOKIE, copied)
    assert thief.get("/", follow_redirects=False).status_code == 200  # the copy works while signed in
    other_browser = TestClient(client.app, raise_server_exceptions=False, base_url="http://127.0.0.1")
    _sign_in(other_browser, key)

    home = client.get("/")
    assert client.post("/sign-out", data={"csrf": _csrf(home.text)}, follow_redirects=False).status_code == 303

    after = thief.get("/meetings", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"] == "/sign-in?next=/meetings"
    assert thief.post("/cache/clear", data={}, follow_redirects=False).status_code == 303  # to sign-in, nothing done
    # the API never took cookies: the copy is no key there either
    assert_problem(thief.get("/v1/meetings"), 401, "API key")
    # signing out one browser leaves the key's other sessions signed in
    assert other_browser.get("/", follow_redirects=False).status_code == 200


def test_a_cross_site_sign_out_is_refused_and_leaves_the_session(site: tuple[TestClient, str]) -> None:
    client, key = site
    _sign_in(client, key)
    token = _csrf(client.get("/").text)
    refused = client.post("/sign-out", data={"csrf": token}, headers=CROSS_SITE, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200
