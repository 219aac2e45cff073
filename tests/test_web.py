"""The web pages over HTTP (no browser): sign-in, CSRF, headers, escaping, errors as pages.
What needs a browser (streaming, scrolling, axe) is in test_web_browser.py."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg
import pytest
from conftest import SAMPLES, TPM_NOTE
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from minutebook.api.app import create_app
from minutebook.api.keys import create_key, revoke_key
from minutebook.api.runtime import Runtime
from minutebook.api.web_session import SESSION_COOKIE, Signer
from minutebook.core.database import open_app_pool, tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

HOSTILE = (Path(__file__).resolve().parent / "fixtures" / "hostile-note.md").read_text()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def site(pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path) -> tuple[TestClient, str, str]:
    """An app whose tenant has the sample notes and one API key: (client, tenant, key)."""
    tenant = f"web{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, tenant, "web test")
    ingest_paths(pool, embedder, [str(TPM_NOTE)], options=IngestOptions(tenant=tenant))
    settings = Settings(home=tmp_path, rate_per_second=1000.0, rate_burst=1000)
    app = create_app(Runtime(settings, pg_url, pool, embedder))
    return TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1"), tenant, key


def sign_in(client: TestClient, key: str, next_path: str = "/") -> object:
    form = client.get("/sign-in").text
    return client.post("/sign-in", data={"key": key, "csrf": _csrf(form), "next": next_path}, follow_redirects=False)


def test_pages_need_a_sign_in_once_a_key_exists_and_a_wrong_key_is_refused(site: tuple[TestClient, str, str]) -> None:
    client, tenant, key = site
    first = client.get("/search?q=okta", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/sign-in?next=/search%3Fq%3Dokta"
    wrong = sign_in(client, "mbk_not-a-key")
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    assert SESSION_COOKIE not in client.cookies

    good = sign_in(client, key, "/search?q=okta")
    assert good.status_code == 303 and good.headers["location"] == "/search?q=okta"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Max-Age=" in cookie
    assert key not in cookie  # the session holds the key's hash, never the key
    page = client.get("/search?q=okta")
    assert page.status_code == 200 and f"tenant {tenant}" in page.text and "Okta" in page.text

    signed_out = client.post("/sign-out", data={"csrf": _csrf(page.text)}, follow_redirects=False)
    assert signed_out.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_forged_tampered_or_revoked_session_is_no_session(site: tuple[TestClient, str, str], pg_url: str) -> None:
    client, tenant, key = site
    signer = Signer(b"not the server's secret" * 2, session_seconds=3600)
    client.cookies.set(SESSION_COOKIE, signer.session_cookie(signer.new_session(tenant, "0" * 64)))
    assert client.get("/", follow_redirects=False).status_code == 303
    client.cookies.clear()
    sign_in(client, key)
    assert client.get("/", follow_redirects=False).status_code == 200
    payload, mac = client.cookies[SESSION_COOKIE].split(".")
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, payload[:-2] + "xx." + mac)  # tampered
    assert client.get("/", follow_redirects=False).status_code == 303

    # a revoked key ends its sessions (a new app: the old one remembers keys for 30 s)
    with psycopg.connect(pg_url) as conn:
        key_id, other = create_key(conn, tenant, "to revoke")
    client.cookies.clear()
    sign_in(client, other)
    assert client.get("/", follow_redirects=False).status_code == 200
    with psycopg.connect(pg_url) as conn:
        revoke_key(conn, key_id)
    client.app.state.minutebook.keys._known.clear()  # the app remembers a key's tenant for 30 s
    assert client.get("/", follow_redirects=False).status_code == 303


def test_state_changing_forms_refuse_a_missing_or_foreign_csrf_token(site: tuple[TestClient, str, str]) -> None:
    client, _, key = site
    sign_in(client, key)
    assert client.post("/cache/clear", data={}).status_code == 403
    other = TestClient(client.app, base_url="http://127.0.0.1")
    foreign = _csrf(other.get("/sign-in").text)  # another browser's token
    refused = client.post("/cache/clear", data={"csrf": foreign})
    assert refused.status_code == 403 and "reload the page" in refused.text
    assert client.post("/ask", data={"question": "who owns okta?"}).status_code == 403
    mine = _csrf(client.get("/cache").text)
    assert client.post("/cache/clear", data={"csrf": mine}, follow_redirects=False).status_code == 303


def test_sign_in_never_redirects_off_site(site: tuple[TestClient, str, str]) -> None:
    client, _, key = site
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client.cookies.clear()
        assert sign_in(client, key, target).headers["location"] == "/"  # type: ignore[attr-defined]


def test_pages_send_a_csp_without_inline_script_and_the_api_keeps_its_errors(
    site: tuple[TestClient, str, str],
) -> None:
    client, _, key = site
    sign_in(client, key)
    page = client.get("/owners?topic=okta")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text and " on" + "click=" not in page.text
    assert page.headers["cache-control"] == "no-store"  # a tenant's page is never kept by a shared cache
    missing = client.get("/meetings/999999999")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    api = client.get("/v1/meetings/999999999")
    assert api.status_code == 401 and api.headers["content-type"] == "application/problem+json"


def test_form_values_a_page_cannot_use_are_explained_on_the_page(site: tuple[TestClient, str, str]) -> None:
    client, _, key = site
    sign_in(client, key)
    bad = client.get("/search?q=okta&since=yesterday-ish")
    assert bad.status_code == 422 and "is not a date like" in bad.text and 'value="okta"' in bad.text
    assert client.get("/owners?status=sleeping").status_code == 422
    assert client.get("/costs?since=forever").status_code == 422


def test_note_markup_renders_inert_in_search_and_meeting_pages(
    site: tuple[TestClient, str, str], pool: ConnectionPool, embedder: Embedder, tmp_path: Path
) -> None:
    client, tenant, key = site
    note = tmp_path / "2025-11-03-hostile.md"
    note.write_text(HOSTILE)
    [outcome] = ingest_paths(pool, embedder, [str(note)], options=IngestOptions(tenant=tenant)).outcomes
    sign_in(client, key)
    for url in ("/search?q=pwned+payload", f"/meetings/{outcome.meeting_id}", "/owners?topic=pwned+payload"):
        html = client.get(url).text
        assert re.search(r"&lt;(script|img|b) ", html.replace("&lt;script&gt;", "&lt;script ")), url  # shown as text
        assert "<script>window" not in html and "<img src" not in html and "<b onmouseover" not in html
        assert 'href="javascript:' not in html


def test_keyless_on_loopback_serves_pages_until_a_key_exists(
    blank_db_url: str, embedder: Embedder, tmp_path: Path
) -> None:
    migrate(blank_db_url)
    with open_app_pool(blank_db_url, min_size=1, max_size=2) as small:
        app = create_app(Runtime(Settings(home=tmp_path), blank_db_url, small, embedder), keyless_tenant="local")
        client = TestClient(app, base_url="http://127.0.0.1")
        home = client.get("/", follow_redirects=False)
        assert home.status_code == 200 and "Sign out" not in home.text
        upload = client.post(
            "/upload",
            data={"csrf": _csrf(client.get("/upload").text)},
            files=[("files", (p.name, p.read_bytes(), "text/plain")) for p in sorted(SAMPLES.glob("*.md"))[:1]],
        )
        assert upload.status_code == 200 and "1 new" in upload.text
        with psycopg.connect(blank_db_url) as conn:
            create_key(conn, "local", "first key")
        assert client.get("/", follow_redirects=False).status_code == 303


def test_ask_without_script_is_a_page_and_with_it_a_stream_ending_in_the_rendered_answer(
    site: tuple[TestClient, str, str],
) -> None:
    client, _, key = site
    sign_in(client, key)
    token = _csrf(client.get("/").text)
    page = client.post("/ask", data={"question": "When will Okta SSO be ready?", "csrf": token})
    assert page.status_code == 200 and 'id="badge"' in page.text and "Extractive" in page.text
    assert re.search(r'<a class="cite" href="/meetings/\d+\?lines=\d+-\d+#L\d+"', page.text)
    stream = client.post(
        "/ask",
        data={"question": "Who owns the read replicas?", "csrf": token},
        headers={"Accept": "text/event-stream"},
    )
    kinds = re.findall(r"^event: (\w+)$", stream.text, re.M)
    assert kinds[0] == "token" and kinds[-2:] == ["html", "answer"]
    assert stream.headers["content-type"].startswith("text/event-stream")
    recent = client.get("/").text  # asked questions come back as one-click links
    assert re.search(r'<a href="/\?q=Who%20owns%20the%20read%20replicas%3F">Who owns the read replicas\?</a>', recent)


def test_a_transcript_meeting_shows_who_spoke_and_when(
    site: tuple[TestClient, str, str], pool: ConnectionPool, embedder: Embedder
) -> None:
    client, tenant, key = site
    vtt = Path(__file__).resolve().parent / "fixtures" / "transcripts" / "2025-11-20-platform-sync.vtt"
    [outcome] = ingest_paths(pool, embedder, [str(vtt)], options=IngestOptions(tenant=tenant)).outcomes
    sign_in(client, key)
    html = client.get(f"/meetings/{outcome.meeting_id}?lines=3-6").text
    assert re.search(r'<p class="section">[^<]*· [A-Z][a-z]+ [A-Z][a-z]+[^<]*· 00:\d\d:\d\d</p>', html)
    assert 'class="line cited" id="L3"' in html


def test_an_upload_over_the_size_limit_is_a_page_saying_so(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, max_request_bytes=2000)
    client = TestClient(create_app(Runtime(settings, pg_url, pool, embedder)), base_url="http://127.0.0.1")
    refused = client.post("/upload", files=[("files", ("big.md", b"x" * 5000, "text/markdown"))])
    assert refused.status_code == 413 and refused.headers["content-type"].startswith("text/html")
    assert "request body over 2,000 bytes" in refused.text
    api = client.post("/v1/ingest", files=[("files", ("big.md", b"x" * 5000, "text/markdown"))])
    assert api.status_code == 413 and api.headers["content-type"] == "application/problem+json"


def test_another_tenant_sees_none_of_it(site: tuple[TestClient, str, str], pg_url: str, pool: ConnectionPool) -> None:
    client, tenant, _ = site
    with tenant_transaction(pool, tenant) as conn:
        row = conn.execute("SELECT id FROM meetings LIMIT 1").fetchone()
    assert row is not None
    with psycopg.connect(pg_url) as conn:
        _, stranger = create_key(conn, f"other{uuid.uuid4().hex[:8]}", "stranger")
    sign_in(client, stranger)
    assert client.get(f"/meetings/{row[0]}").status_code == 404
    assert "0 passages" in client.get("/search?q=okta+SSO").text
    assert "No items match" in client.get("/owners").text
    assert "No meetings yet" in client.get("/meetings").text


def test_an_undated_meeting_gets_its_date_from_its_page(
    site: tuple[TestClient, str, str], pool: ConnectionPool, embedder: Embedder, tmp_path: Path
) -> None:
    client, tenant, key = site
    note = tmp_path / "sync.md"
    note.write_text("# Platform sync\nAttendees: Ana, Ben\n\n## Decisions\n- Approved: move the queue to Postgres\n")
    [outcome] = ingest_paths(pool, embedder, [str(note)], options=IngestOptions(tenant=tenant)).outcomes
    sign_in(client, key)
    assert "Platform sync" in client.get("/meetings?undated=1").text
    page = client.get(f"/meetings/{outcome.meeting_id}").text
    assert "Give this meeting its date" in page
    bad = client.post(f"/meetings/{outcome.meeting_id}/date", data={"date": "someday", "csrf": _csrf(page)})
    assert bad.status_code == 422 and 'value="someday"' in bad.text
    done = client.post(f"/meetings/{outcome.meeting_id}/date", data={"date": "2022-11-07", "csrf": _csrf(page)})
    assert done.status_code == 200 and "The meeting is dated 2022-11-07" in done.text
    assert "Platform sync" not in client.get("/meetings?undated=1").text
    assert client.post(f"/meetings/{outcome.meeting_id}/date", data={"date": "2022-11-07"}).status_code == 403


def test_workers_starting_together_share_one_web_secret(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from minutebook.api.web_session import load_secret
    from minutebook.core.errors import ConfigError

    with ThreadPoolExecutor(8) as pool:
        secrets_seen = set(pool.map(lambda _: load_secret(None, tmp_path), range(32)))
    assert len(secrets_seen) == 1 and len(next(iter(secrets_seen))) == 32
    assert oct((tmp_path / "web-secret").stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["web-secret"]  # no drafts left behind
    (tmp_path / "web-secret").write_text("")  # truncated by a full disk
    with pytest.raises(ConfigError, match="damaged"):
        load_secret(None, tmp_path)


def test_the_cache_page_says_which_verifier_is_off_and_why(
    site: tuple[TestClient, str, str], pool: ConnectionPool
) -> None:
    from minutebook.cache import trust
    from minutebook.core.database import tenant_transaction

    client, tenant, key = site
    sign_in(client, key)
    assert "No verifier checked yet" in client.get("/cache").text
    with tenant_transaction(pool, tenant) as conn:
        checked = trust.Checked(False, "said <b>yes</b> to a pair it should reject (canary)", 2, 3)
        trust.save(conn, tenant, "tiny-local-model", checked)
    page = client.get("/cache").text
    assert 'data-model="tiny-local-model" data-trusted="no"' in page
    assert "said &lt;b&gt;yes&lt;/b&gt; to a pair it should reject (canary)" in page  # note text is data
