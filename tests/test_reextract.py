"""Extraction follows the code: a changed extractor re-reads stored notes (`reextract`) and the
stored items follow, while the passages and their embeddings stay as they were."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import TPM_NOTE
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.ingest import pipeline, reextract, store
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.ingest.reextract import outdated_by_tenant
from minutebook.ingest.store import extraction_sources, extractor_version


def _chunks(pool: ConnectionPool, tenant: str) -> list[tuple[int, str, np.ndarray]]:
    with tenant_transaction(pool, tenant) as conn:
        rows = conn.execute("SELECT id, text, embedding FROM chunks ORDER BY id").fetchall()
    return [(r[0], r[1], r[2].to_numpy()) for r in rows]


def _items(pool: ConnectionPool, tenant: str) -> list[tuple[str, list[str]]]:
    with tenant_transaction(pool, tenant) as conn:
        rows = conn.execute(
            """SELECT i.text, COALESCE(array_agg(p.name ORDER BY o.position) FILTER (WHERE p.id IS NOT NULL), '{}')
               FROM items i LEFT JOIN item_owners o ON o.item_id = i.id LEFT JOIN people p ON p.id = o.person_id
               GROUP BY i.tenant_id, i.id ORDER BY i.id"""
        ).fetchall()
    return [(r[0], list(r[1])) for r in rows]


def _versions(pool: ConnectionPool, tenant: str) -> list[str]:
    with tenant_transaction(pool, tenant) as conn:
        return [r[0] for r in conn.execute("SELECT extractor_version FROM meetings ORDER BY id").fetchall()]


def _old_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    """An extractor of another version that reads no items at all."""
    for module in (store, pipeline, reextract):
        monkeypatch.setattr(module, "extractor_version", lambda: "old")
    monkeypatch.setattr(pipeline, "extract_items", lambda parsed, people=(): [])


def test_the_version_is_the_extraction_modules_source() -> None:
    root = Path(store.__file__).resolve().parents[1]
    names = {p.relative_to(root).as_posix() for p in extraction_sources()}
    assert {"ingest/extract.py", "ingest/grammar/notes.py", "core/dates.py", "ingest/boilerplate.py"} <= names
    assert len(extractor_version()) == 16 and extractor_version() == extractor_version()


def test_reextract_follows_a_changed_rule_and_keeps_the_embeddings(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    _old_extractor(monkeypatch)
    assert ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options).outcomes[0].status == "new"
    assert _items(pool, options.tenant) == [] and _versions(pool, options.tenant) == ["old"]
    chunks = _chunks(pool, options.tenant)
    monkeypatch.undo()  # the extractor of today

    with tenant_transaction(pool, options.tenant) as conn:
        assert outdated_by_tenant(conn) == {options.tenant: 1}
    seen: list[str] = []
    report = reextract.reextract(pool, embedder, tenant=options.tenant, on_meeting_done=seen.append)
    assert (report.meetings, report.reextracted, report.reembedded, report.failed) == (1, 1, [], [])
    assert seen == [str(TPM_NOTE)]
    items = _items(pool, options.tenant)
    assert len(items) == report.items >= 10
    assert any(owners for _, owners in items)
    assert _versions(pool, options.tenant) == [extractor_version()]
    after = _chunks(pool, options.tenant)  # the same passages, ids and vectors
    assert [(i, t) for i, t, _ in after] == [(i, t) for i, t, _ in chunks]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(after, chunks, strict=True))

    # up to date: nothing to do; an ingest of the unchanged note skips it
    assert reextract.reextract(pool, embedder, tenant=options.tenant).meetings == 0
    assert ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options).outcomes[0].status == "unchanged"

    # re-read again with a rule that changed: items follow, unchanged items keep their vectors
    report = reextract.reextract(pool, embedder, tenant=options.tenant, everything=True)
    assert (report.reextracted, report.items_embedded) == (1, 0)
    assert _items(pool, options.tenant) == items


def test_ingest_restores_an_unchanged_note_read_by_an_older_extractor(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    _old_extractor(monkeypatch)
    ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options)
    monkeypatch.undo()
    again = ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options)
    assert again.outcomes[0].status == "updated"
    assert len(_items(pool, options.tenant)) >= 10
    assert _versions(pool, options.tenant) == [extractor_version()]


def test_a_note_cut_into_other_passages_is_reembedded_and_named(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tmp_path: Path
) -> None:
    ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options)
    before = _chunks(pool, options.tenant)
    report = reextract.reextract(pool, embedder, tenant=options.tenant, everything=True, max_tokens=90)
    assert (report.reextracted, report.reembedded) == (0, [str(TPM_NOTE)])
    after = _chunks(pool, options.tenant)
    assert len(after) > len(before) and {i for i, _, _ in after}.isdisjoint({i for i, _, _ in before})
    assert len(_items(pool, options.tenant)) == report.items


def test_line_fingerprints_follow_a_changed_fingerprint(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = store.fingerprints
    _old_extractor(monkeypatch)
    monkeypatch.setattr(store, "fingerprints", lambda text: {-1, -2})  # another fingerprint of every line
    ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options)
    monkeypatch.undo()
    report = reextract.reextract(pool, embedder, tenant=options.tenant)
    assert (report.reextracted, report.same_fingerprints) == (1, False)
    with tenant_transaction(pool, options.tenant) as conn:
        rows = conn.execute("SELECT ordinal, fingerprint FROM chunk_lines").fetchall()
        chunks = conn.execute("SELECT ordinal, text FROM chunks").fetchall()
    assert sorted(rows) == sorted((o, f) for o, text in chunks for f in today(text))


def test_serve_names_outdated_notes_and_reads_them_again(
    pg_url: str,
    pool: ConnectionPool,
    embedder: Embedder,
    options: IngestOptions,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    from minutebook.api import cli_serve
    from minutebook.api.runtime import Runtime
    from minutebook.core.settings import Settings

    _old_extractor(monkeypatch)
    ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options)
    monkeypatch.undo()
    rt = Runtime(Settings(home=tmp_path, tenant=options.tenant), pg_url, pool, embedder)
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        # several workers: said, not done (the other tests' tenants are left alone here)
        cli_serve._catch_up_extraction(rt, options.tenant, background=False)
        assert f"1 note(s) of tenant {options.tenant} were read by an older extractor" in caplog.text
        assert f"run `minutebook reextract --tenant {options.tenant}`" in caplog.text
        assert _items(pool, options.tenant) == []
        cli_serve._reextract_all(rt, [options.tenant], logging.getLogger("uvicorn.error"))  # what the thread runs
        assert f"re-extracted 1 of 1 note(s) of tenant {options.tenant}" in caplog.text
    assert len(_items(pool, options.tenant)) >= 10 and _versions(pool, options.tenant) == [extractor_version()]


def test_cli_reextract_json_summary(
    pg_url: str,
    pool: ConnectionPool,
    embedder: Embedder,
    options: IngestOptions,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import json

    from typer.testing import CliRunner

    from minutebook.api.cli import app as cli_app

    _old_extractor(monkeypatch)
    ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options)
    monkeypatch.undo()
    env = {"DATABASE_URL": pg_url, "MINUTEBOOK_HOME": str(tmp_path), "OPENAI_API_KEY": None}
    result = CliRunner().invoke(cli_app, ["reextract", "--tenant", options.tenant, "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["tenant"], summary["meetings"], summary["reextracted"], summary["failed"]) == (
        options.tenant,
        1,
        1,
        [],
    )
    assert summary["version"] == extractor_version() and summary["items"] == len(_items(pool, options.tenant))
    again = CliRunner().invoke(cli_app, ["reextract", "--tenant", options.tenant], env=env)
    assert again.exit_code == 0 and "every note of" in again.stdout and "is read by this extractor" in again.stdout
