"""Vectors of two models or runtimes are never mixed: a store remembers what made its vectors,
refuses another kind with the command to run, and `reembed` moves it over in resumable batches."""

import html
import json
import shutil
from pathlib import Path

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from minutebook.api.app import create_app
from minutebook.api.runtime import open_runtime
from minutebook.core.embedder import Embedder
from minutebook.core.embedding_identity import check_identity, recorded, reembed, vectors_to_do
from minutebook.core.errors import ConfigError
from minutebook.core.migrations import SQL_DIR, migrate
from minutebook.core.settings import Settings

TORCH, INT8 = "minilm@abc/torch", "minilm@abc/onnx-int8"


def fill(url: str, tenant: str, n: int) -> None:
    vector = "[" + ",".join(["0.05"] * 384) + "]"
    with psycopg.connect(url) as conn:
        meeting = conn.execute(
            "INSERT INTO meetings (tenant_id, source, title, content_hash, raw_text) VALUES (%s, 's.md', 'S', 'h', 'x')"
            " RETURNING id",
            (tenant,),
        ).fetchone()
        assert meeting is not None
        for i in range(n):
            conn.execute(
                """INSERT INTO chunks (tenant_id, meeting_id, ordinal, section_path, text, embed_text, token_count,
                                       line_start, line_end, content_hash, embedding)
                   VALUES (%s, %s, %s, '{}', %s, %s, 3, 1, 1, 'c', %s::vector)""",
                (tenant, meeting[0], i, f"passage {i}", f"passage {i}", vector),
            )


def unit(texts: list[str]) -> np.ndarray:
    return np.tile(np.eye(1, 384, dtype=np.float32), (len(texts), 1))


def test_a_new_store_takes_the_runtime_that_first_uses_it_and_refuses_another(blank_db_url: str) -> None:
    migrate(blank_db_url)
    with psycopg.connect(blank_db_url) as conn:
        check_identity(conn, INT8, legacy=TORCH)
        assert recorded(conn) == (INT8, None)
        with pytest.raises(ConfigError, match=r"embedded with minilm@abc/onnx-int8.*run `minutebook reembed`"):
            check_identity(conn, TORCH, legacy=TORCH)


def test_a_store_from_before_the_record_is_taken_as_torch_vectors(blank_db_url: str, tmp_path: Path) -> None:
    older = tmp_path / "sql"
    older.mkdir()
    for path in sorted(SQL_DIR.glob("*.sql"))[:13]:  # up to 013: no record of what made the vectors
        shutil.copy(path, older / path.name)
    migrate(blank_db_url, older)
    fill(blank_db_url, "acme", 2)
    migrate(blank_db_url)
    with psycopg.connect(blank_db_url) as conn:
        with pytest.raises(ConfigError, match="MINUTEBOOK_EMBED_RUNTIME=torch"):
            check_identity(conn, INT8, legacy=TORCH)
        assert recorded(conn) == (TORCH, None)


def test_reembed_is_resumable_and_searching_waits_for_it(blank_db_url: str) -> None:
    migrate(blank_db_url)
    fill(blank_db_url, "acme", 5)
    fill(blank_db_url, "globex", 3)
    with psycopg.connect(blank_db_url) as conn:
        check_identity(conn, TORCH, legacy=TORCH)
    calls = 0

    def failing(texts: list[str]) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("killed mid-run")
        return unit(texts)

    with psycopg.connect(blank_db_url, autocommit=True) as conn:
        with pytest.raises(RuntimeError):
            reembed(conn, failing, INT8, default_tenant="acme", batch=2)
        with pytest.raises(ConfigError, match=r"being re-embedded with .*2 of 8 vectors done.*reembed` finishes"):
            check_identity(conn, INT8, legacy=TORCH)
        report = reembed(conn, unit, INT8, default_tenant="acme", batch=2)
        assert (report.source, report.chunks, report.tenants) == (TORCH, 6, 2)  # the 2 already done are kept
        check_identity(conn, INT8, legacy=TORCH)
        assert recorded(conn) == (INT8, None)
        first = conn.execute("SELECT embedding::text FROM chunks LIMIT 1").fetchone()
        assert first is not None and first[0].startswith("[1,0,0")


def test_the_cli_refuses_other_vectors_and_reembed_moves_them_over(
    blank_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import SAMPLES
    from typer.testing import CliRunner

    from minutebook.api.cli import app

    monkeypatch.setenv("DATABASE_URL", blank_db_url)
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(SAMPLES), "--json"]).exit_code == 0
    with psycopg.connect(blank_db_url) as conn:  # as if a torch install had made them
        conn.execute("UPDATE store_meta SET value = 'all-MiniLM-L6-v2@old/torch' WHERE key = 'embedding'")
    refused = runner.invoke(app, ["search", "Okta SSO"])
    assert refused.exit_code == 1 and "run `minutebook reembed`" in refused.output
    moved = runner.invoke(app, ["reembed", "--json"])
    assert moved.exit_code == 0, moved.output
    report = json.loads(moved.output)
    assert report["source"] == "all-MiniLM-L6-v2@old/torch" and report["chunks"] > 0 and report["items"] > 0
    found = runner.invoke(app, ["search", "Okta SSO", "--json"])
    assert found.exit_code == 0 and json.loads(found.output)["hits"]


OTHER = "all-MiniLM-L6-v2@0123456789ab/onnx-fp32"  # what a `reembed` under another configuration makes
NOTE = {"name": "2025-11-03-platform-sync.md", "text": "# Platform sync - Nov 3, 2025\nAttendees: Sarah\n\n"
        "## Action Items\n- [ ] Okta SSO rollout (Sarah, Nov 15)\n"}  # fmt: skip


def test_a_running_server_notices_a_reembed_beside_it_and_answers_503_until_it_fits_again(
    blank_db_url: str, embedder: Embedder
) -> None:
    """Issue 23 item 7: `serve` kept searching with its old query vectors during and after a
    `reembed`, and an ingest through it was a 500. Now each use of the model checks the store."""
    rt = open_runtime(Settings(database_url=blank_db_url, pool_max_size=4))
    try:
        client = TestClient(create_app(rt, keyless_tenant="local"), raise_server_exceptions=False)
        assert client.post("/v1/ingest", json={"notes": [NOTE]}).status_code == 200
        assert client.get("/v1/search", params={"q": "Okta rollout"}).json()["hits"]

        def refused(why: str) -> None:
            for response in (
                client.get("/v1/search", params={"q": "Okta rollout"}),
                client.get("/v1/owners", params={"topic": "Okta SSO"}),
                client.post("/v1/ask", json={"question": "Who owns the Okta rollout?"}),
                client.post(
                    "/v1/ingest", json={"notes": [{"name": "new.md", "text": NOTE["text"] + "Budget agreed.\n"}]}
                ),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert why in response.json()["detail"]
            page = client.get("/search", params={"q": "Okta rollout"})  # the web page says it in its form
            assert page.status_code == 503 and why in html.unescape(page.text)  # retryable, as the API says

        during: list[int] = []

        def in_the_middle(done: int) -> None:  # after each committed batch of the re-embed
            during.append(done)
            refused(f"the notes are being re-embedded with {OTHER}")

        with psycopg.connect(blank_db_url, autocommit=True) as owner:
            reembed(owner, unit, OTHER, default_tenant="local", batch=1, on_batch=in_the_middle)
        assert during, "the re-embed ran no batch"
        refused(f"embedded with {OTHER}, but this")  # the API's ingest: the pipeline's own check
        restart = client.get("/v1/search", params={"q": "Okta rollout"}).json()["detail"]
        assert f"re-embedded with {OTHER}, but this server embeds with {rt.embedder.identity}: restart it" in restart

        # re-embedded back with what the server makes: it serves again, without a restart
        with psycopg.connect(blank_db_url, autocommit=True) as owner:
            reembed(owner, embedder.encode, embedder.identity, default_tenant="local")
        found = client.get("/v1/search", params={"q": "Okta rollout"})
        assert found.status_code == 200 and found.json()["hits"]
    finally:
        rt.close()


def test_vectors_stored_by_an_ingest_during_a_reembed_are_moved_too(blank_db_url: str) -> None:
    """An ingest that embedded before the re-embed began can store its old-kind vectors after
    the re-embed has passed its tenant; the store must not then claim to be all `target`."""
    migrate(blank_db_url)
    fill(blank_db_url, "acme", 3)
    with psycopg.connect(blank_db_url) as conn:
        check_identity(conn, TORCH, legacy=TORCH)
    calls = 0

    def late_ingest(done: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # commits while the re-embed is under way, in a tenant it did not list
            fill(blank_db_url, "a-late-tenant", 2)

    with psycopg.connect(blank_db_url, autocommit=True) as conn:
        report = reembed(conn, unit, INT8, default_tenant="acme", batch=2, on_batch=late_ingest)
        assert vectors_to_do(conn, INT8) == 0
        assert recorded(conn) == (INT8, None)
    assert report.chunks == 5 and report.tenants == 2
