"""One batch of notes, several ingest workers (processes, on one machine or several that see the
same files): the batch is a queue in the database (sql/022), and each worker claims a few notes
at a time with `FOR UPDATE SKIP LOCKED`, for a lease. A worker killed mid-note leaves its claim
to expire and another worker takes it; storing a note is idempotent, so nothing is lost and no
note is stored twice. A note whose workers died `MAX_ATTEMPTS` times is given up as failed.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import IngestError
from minutebook.ingest.pipeline import FileOutcome, IngestOptions, ingest_notes
from minutebook.ingest.reader import NoteText, expand_paths, read_note

CLAIM = 4  # notes a worker takes at once: enough to batch the model, few enough to share a batch
LEASE = timedelta(minutes=5)  # a claim not finished by then is taken by another worker
MAX_ATTEMPTS = 3
IDLE_PAUSE = 0.5  # seconds between looks at a queue whose last notes other workers hold


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    failed: int
    claimed: int  # held by a worker right now

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue(pool: ConnectionPool, tenant: str, patterns: Sequence[str]) -> tuple[uuid.UUID, list[FileOutcome]]:
    """A new batch of every note the patterns name; the ones that do not exist, as outcomes."""
    files, missing = expand_paths(list(patterns))
    batch = uuid.uuid4()
    with tenant_transaction(pool, tenant) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ingest_queue (tenant_id, batch_id, source) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            [(tenant, batch, str(Path(f).resolve())) for f in files],
        )
    return batch, [FileOutcome(p, "failed", error=f"{p}: {why}") for p, why in missing]


def progress(pool: ConnectionPool, tenant: str, batch: uuid.UUID) -> Progress:
    with tenant_transaction(pool, tenant) as conn:
        row = conn.execute(
            """SELECT count(*), count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed'),
                      count(*) FILTER (WHERE status = 'pending' AND claimed_until > now())
               FROM ingest_queue WHERE tenant_id = %s AND batch_id = %s""",
            (tenant, batch),
        ).fetchone()
    assert row is not None
    return Progress(*row)


def outcomes(pool: ConnectionPool, tenant: str, batch: uuid.UUID) -> list[FileOutcome]:
    with tenant_transaction(pool, tenant) as conn:
        rows = conn.execute(
            "SELECT source, outcome FROM ingest_queue WHERE tenant_id = %s AND batch_id = %s ORDER BY source",
            (tenant, batch),
        ).fetchall()
    return [FileOutcome(source, **(outcome or {"status": "failed", "error": f"{source}: not ingested"}))
            for source, outcome in rows]  # fmt: skip


def claim(pool: ConnectionPool, tenant: str, batch: uuid.UUID, me: str, *, lease: timedelta = LEASE) -> list[str]:
    """Up to `CLAIM` notes nobody holds (pending, or whose worker's lease ran out)."""
    with tenant_transaction(pool, tenant) as conn:
        for source, attempts in conn.execute(  # notes that took their workers down too often
            """SELECT source, attempts FROM ingest_queue
               WHERE tenant_id = %s AND batch_id = %s AND status = 'pending' AND attempts >= %s
                 AND claimed_until < now() FOR UPDATE SKIP LOCKED""",
            (tenant, batch, MAX_ATTEMPTS),
        ).fetchall():
            why = {"status": "failed", "error": f"{source}: its worker stopped {attempts} times while ingesting it"}
            conn.execute(
                """UPDATE ingest_queue SET status = 'failed', done_at = now(), outcome = %s
                   WHERE tenant_id = %s AND batch_id = %s AND source = %s""",
                (Jsonb(why), tenant, batch, source),
            )
        free = conn.execute(  # locked until this transaction ends; other workers skip them
            """SELECT source FROM ingest_queue
               WHERE tenant_id = %s AND batch_id = %s AND status = 'pending'
                 AND (claimed_until IS NULL OR claimed_until < now())
               ORDER BY source LIMIT %s FOR UPDATE SKIP LOCKED""",
            (tenant, batch, CLAIM),
        ).fetchall()
        sources = [r[0] for r in free]
        conn.execute(
            """UPDATE ingest_queue SET claimed_by = %s, claimed_until = now() + %s, attempts = attempts + 1
               WHERE tenant_id = %s AND batch_id = %s AND source = ANY(%s)""",
            (me, lease, tenant, batch, sources),
        )
    return sources


def finish(pool: ConnectionPool, tenant: str, batch: uuid.UUID, outcome: FileOutcome) -> None:
    status = "failed" if outcome.status == "failed" else "done"
    kept = {"status": outcome.status, "chunks": outcome.chunks, "meeting_id": outcome.meeting_id,
            "error": outcome.error, "warnings": outcome.warnings, "detail": outcome.detail}  # fmt: skip
    with tenant_transaction(pool, tenant) as conn:
        conn.execute(
            """UPDATE ingest_queue SET status = %s, outcome = %s, done_at = now(), claimed_until = NULL
               WHERE tenant_id = %s AND batch_id = %s AND source = %s AND status = 'pending'""",
            (status, Jsonb(kept), tenant, batch, outcome.source),
        )


def work(
    pool: ConnectionPool,
    embedder: Embedder,
    batch: uuid.UUID,
    *,
    options: IngestOptions,
    lease: timedelta = LEASE,
    on_file_done: Callable[[str], None] | None = None,
) -> int:
    """Ingest notes of the batch until none is left to claim and none is held by a live worker.
    The notes this worker finished."""
    me = worker_name()
    finished = 0
    while True:
        sources = claim(pool, options.tenant, batch, me, lease=lease)
        if not sources:
            if progress(pool, options.tenant, batch).finished:
                return finished
            time.sleep(IDLE_PAUSE)  # others hold the rest: wait for them, or for their leases to end
            continue
        notes: list[NoteText | FileOutcome] = []
        for source in sources:
            try:
                notes.append(read_note(Path(source), max_bytes=options.max_note_bytes))
            except IngestError as exc:
                notes.append(FileOutcome(source, "failed", error=str(exc)))
        for outcome in ingest_notes(pool, embedder, notes, options=options):
            finish(pool, options.tenant, batch, outcome)
            finished += 1
            if on_file_done:
                on_file_done(outcome.source)
