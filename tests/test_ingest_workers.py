"""Several ingest workers on one batch: every note stored once, none lost when a worker is killed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool
from test_cli import clean_env

from minutebook.core.database import tenant_transaction
from minutebook.ingest import queue

WAIT = 300.0  # seconds: workers load the model; a busy 2-core machine is slow at it


def write_notes(folder: Path, n: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(n):
        path = folder / f"2025-03-{i + 1:02d}-sync.md"
        path.write_text(
            f"# Platform sync {i + 1}\n\nAttendees: Ana, Jo\n\n## Actions\n"
            f"- [ ] Ana to migrate service {i} to the new cluster by April {i + 1}\n"
            f"- [ ] Jo to review the runbook for service {i}\n\n## Notes\nService {i} latency is {10 + i} ms.\n"
        )
        paths.append(path)
    return paths


def stored(pool: ConnectionPool, tenant: str) -> list[tuple[str, int]]:
    with tenant_transaction(pool, tenant) as conn:
        return conn.execute("SELECT source, count(*) FROM meetings GROUP BY source ORDER BY source").fetchall()


def test_ingest_with_two_workers_stores_every_note_once(pg_url: str, pool: ConnectionPool, tmp_path: Path) -> None:
    tenant = f"workers{uuid.uuid4().hex[:8]}"
    notes = write_notes(tmp_path / "notes", 10)
    env = clean_env(DATABASE_URL=pg_url, MINUTEBOOK_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-m", "minutebook.api", "ingest", str(tmp_path / "notes"), "--workers", "2", "--json",
         "--tenant", tenant],
        env=env, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert sorted(f["status"] for f in report["files"]) == ["new"] * len(notes)
    assert stored(pool, tenant) == [(str(p.resolve()), 1) for p in notes]


def test_a_killed_worker_loses_nothing(pg_url: str, pool: ConnectionPool, tmp_path: Path) -> None:
    tenant = f"killed{uuid.uuid4().hex[:8]}"
    notes = write_notes(tmp_path / "notes", 16)
    batch, missing = queue.enqueue(pool, tenant, [str(tmp_path / "notes")])
    assert not missing
    env = clean_env(
        DATABASE_URL=pg_url, MINUTEBOOK_HOME=str(tmp_path / "home"), MINUTEBOOK_INGEST_LEASE_SECONDS="2",
        MINUTEBOOK_EMBED_THREADS="1",
    )  # fmt: skip
    command = [sys.executable, "-m", "minutebook.api", "ingest", "--join", str(batch), "--tenant", tenant]
    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    holder = f"{socket.gethostname()}:{victim.pid}"
    deadline = time.monotonic() + WAIT
    with psycopg.connect(pg_url) as conn:  # the owner: sees the queue without a tenant
        while not conn.execute(
            "SELECT EXISTS (SELECT 1 FROM ingest_queue WHERE batch_id = %s AND claimed_by = %s AND status = 'pending')",
            (batch, holder),
        ).fetchone()[0]:  # type: ignore[index]
            assert victim.poll() is None and time.monotonic() < deadline, "the worker never claimed a note"
            time.sleep(0.05)
            conn.rollback()
    os.kill(victim.pid, signal.SIGKILL)  # mid-note: its claim stays until the lease ends
    victim.wait(timeout=30)
    survivor = subprocess.run(command, env=env, capture_output=True, text=True, timeout=WAIT)
    assert survivor.returncode == 0, survivor.stderr[-2000:]
    assert queue.progress(pool, tenant, batch).finished
    statuses = {o.source: o.status for o in queue.outcomes(pool, tenant, batch)}
    assert set(statuses.values()) <= {"new", "unchanged"} and len(statuses) == len(notes)
    assert stored(pool, tenant) == [(str(p.resolve()), 1) for p in notes]  # each note once, none lost
