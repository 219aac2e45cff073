import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from conftest import Q4_NOTE, TPM_NOTE
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import ConfigError
from minutebook.ingest import store
from minutebook.ingest.pipeline import IngestOptions, ingest_paths


def meetings(pool: ConnectionPool, tenant: str) -> list[tuple]:
    with tenant_transaction(pool, tenant) as conn:
        return conn.execute(
            """SELECT m.id, m.source, m.title, m.content_hash, count(c.id)
               FROM meetings m LEFT JOIN chunks c ON c.meeting_id = m.id
               WHERE m.tenant_id = %s GROUP BY m.tenant_id, m.id ORDER BY m.source""",
            (tenant,),
        ).fetchall()


def chunk_rows(pool: ConnectionPool, tenant: str, meeting_id: int) -> list[tuple]:
    with tenant_transaction(pool, tenant) as conn:
        return conn.execute(
            "SELECT id, ordinal, text, embedding FROM chunks WHERE meeting_id = %s ORDER BY ordinal",
            (meeting_id,),
        ).fetchall()


def test_ingest_samples_then_reingest_is_a_no_op(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, notes_dir: Path
) -> None:
    report = ingest_paths(pool, embedder, [str(notes_dir)], options=options)
    assert [o.status for o in report.outcomes] == ["new", "new"]
    rows = meetings(pool, options.tenant)
    assert [r[2] for r in rows] == [
        "Q4 2024 Planning Meeting",
        "Weekly TPM Status Meeting - Week of Oct 21-25, 2025",
    ]
    assert all(r[4] >= 10 for r in rows)
    assert report.chunks_written == sum(r[4] for r in rows)
    vectors = np.stack([c[3].to_numpy() for c in chunk_rows(pool, options.tenant, rows[0][0])])
    assert vectors.shape[1] == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)

    again = ingest_paths(pool, embedder, [str(notes_dir)], options=options)
    assert [o.status for o in again.outcomes] == ["unchanged", "unchanged"]
    assert meetings(pool, options.tenant) == rows


def test_changed_note_replaces_its_chunks_and_keeps_its_meeting(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, notes_dir: Path
) -> None:
    note = notes_dir / TPM_NOTE.name
    ingest_paths(pool, embedder, [str(note)], options=options)
    (before,) = meetings(pool, options.tenant)
    old_chunks = {c[0] for c in chunk_rows(pool, options.tenant, before[0])}

    note.write_text(note.read_text().replace("Okta pushed to Nov 15", "Okta pushed to Dec 12"))
    report = ingest_paths(pool, embedder, [str(note)], options=options)
    assert report.outcomes[0].status == "updated"
    (after,) = meetings(pool, options.tenant)
    assert after[0] == before[0] and after[3] != before[3]
    new_chunks = chunk_rows(pool, options.tenant, after[0])
    assert not old_chunks & {c[0] for c in new_chunks}
    joined = "\n".join(c[2] for c in new_chunks)
    assert "Okta pushed to Dec 12" in joined and "Okta pushed to Nov 15" not in joined


def test_same_content_under_another_path_is_not_duplicated(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tmp_path: Path
) -> None:
    shutil.copy(Q4_NOTE, tmp_path / "copy-a.txt")
    shutil.copy(Q4_NOTE, tmp_path / "copy-b.txt")
    report = ingest_paths(pool, embedder, [str(tmp_path)], options=options)
    assert [o.status for o in report.outcomes] == ["new", "unchanged"]
    assert "same content as" in (report.outcomes[1].detail or "")
    assert len(meetings(pool, options.tenant)) == 1


def test_bad_files_fail_alone_and_the_batch_goes_on(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tmp_path: Path
) -> None:
    shutil.copy(TPM_NOTE, tmp_path / "good.md")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "huge.md").write_bytes(b"# big\n" + b"word " * 400_000)
    (tmp_path / "title-only.md").write_text("# Just a title\n")
    report = ingest_paths(
        pool,
        embedder,
        [str(tmp_path), str(tmp_path / "missing.md")],
        options=IngestOptions(tenant=options.tenant, max_note_bytes=1_000_000),
    )
    status = {Path(o.source).name: o.status for o in report.outcomes}
    assert status == {
        "missing.md": "failed",
        "binary.txt": "failed",
        "empty.md": "failed",
        "good.md": "new",
        "huge.md": "failed",
        "title-only.md": "failed",
    }
    reasons = {Path(o.source).name: o.error for o in report.failed}
    assert "empty" in reasons["empty.md"]
    assert "binary" in reasons["binary.txt"]
    assert "limit" in reasons["huge.md"]
    assert "no text to index" in reasons["title-only.md"]
    assert [r[2] for r in meetings(pool, options.tenant)] == ["Weekly TPM Status Meeting - Week of Oct 21-25, 2025"]


def test_failure_while_writing_leaves_the_previous_version_intact(
    pool: ConnectionPool,
    embedder: Embedder,
    options: IngestOptions,
    notes_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    note = notes_dir / Q4_NOTE.name
    ingest_paths(pool, embedder, [str(note)], options=options)
    (before,) = meetings(pool, options.tenant)
    before_chunks = chunk_rows(pool, options.tenant, before[0])

    def broken_copy(conn: psycopg.Connection, **kwargs: object) -> None:
        conn.execute("SELECT 1/0")  # the database refuses halfway through the write

    monkeypatch.setattr(store, "copy_chunks", broken_copy)
    note.write_text(note.read_text() + "\nLATE ADDITION\n-------------\nSomething new.\n")
    report = ingest_paths(pool, embedder, [str(note)], options=options)
    assert report.outcomes[0].status == "failed"
    assert "nothing written" in (report.outcomes[0].error or "")
    assert meetings(pool, options.tenant) == [before]
    assert [c[0] for c in chunk_rows(pool, options.tenant, before[0])] == [c[0] for c in before_chunks]


def test_concurrent_ingests_of_one_file_make_one_meeting(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions
) -> None:
    outcomes: list[str] = []

    def run() -> None:
        report = ingest_paths(pool, embedder, [str(TPM_NOTE)], options=options)
        outcomes.extend(o.status for o in report.outcomes)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["new", "unchanged", "unchanged", "unchanged"]
    (row,) = meetings(pool, options.tenant)
    assert row[4] == len(chunk_rows(pool, options.tenant, row[0]))


def test_embedding_size_mismatch_is_a_clear_error(
    pool: ConnectionPool, options: IngestOptions, notes_dir: Path
) -> None:
    class WrongSize(Embedder):
        @property
        def dim(self) -> int:
            return 768

    with pytest.raises(ConfigError, match="768-dimensional vectors but the database stores 384"):
        ingest_paths(pool, WrongSize(), [str(notes_dir)], options=options)


@pytest.mark.timeout(900)
def test_kill_9_mid_ingest_leaves_every_note_whole(
    pool: ConnectionPool, pg_url: str, options: IngestOptions, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    base = TPM_NOTE.read_text()
    for i in range(120):
        (corpus / f"note-{i:03d}.md").write_text(base.replace("Sprint Velocity: 42", f"Sprint Velocity: {i}"))
    env = {**os.environ, "DATABASE_URL": pg_url, "MINUTEBOOK_TENANT": options.tenant}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minutebook.api", "ingest", str(corpus)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # however loaded the machine, wait for the first notes to be written (the test's timeout
    # bounds a hang): a batch of notes is embedded before any of them is stored
    while proc.poll() is None and len(meetings(pool, options.tenant)) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows = meetings(pool, options.tenant)
    assert rows, "the ingest was killed before writing anything"
    expected = rows[0][4]
    # every stored note is complete: all chunks, contiguous ordinals; none half-written
    for meeting_id, _source, _title, _hash, count in rows:
        assert count == expected
        assert [c[1] for c in chunk_rows(pool, options.tenant, meeting_id)] == list(range(count))
