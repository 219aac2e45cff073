"""Scale-out: several ingest workers on one batch, and the cost of limits shared by API nodes.

1. Ingest throughput: the notes of the three labelled corpora (../shared/corpora: aswf-tac,
   ipfs-gui, solid-cg) queued as one batch (ingest/queue.py) and ingested by 1, then 2 worker
   processes (`minutebook ingest --join`), each pinned to one model thread
   (MINUTEBOOK_EMBED_THREADS=1), each run in a tenant of its own. Target: 2 workers >= 1.7x the
   notes/s of one (the machine has 2 cores: the workers are not sharing one core).
2. The shared rate limit: a request's token taken from PostgreSQL (minutebook_take_token, one
   statement on a pooled connection) against the in-process bucket it replaced; p50 and p99 per
   request, reported (the API's own latency budget is in bench/load.py).
3. Shared tenant concurrency: a request's slot taken and given back in PostgreSQL
   (minutebook_take_slot + minutebook_give_slot, sql/026: one statement each on a pooled
   connection, the two round trips a request pays when `serve` shares its slots); p50 and p99.
Not here yet: search p50/p99 at 1,000,000 passages on one node against Citus (docs/scaling.md).

Runs on a fresh embedded server unless `--database-url` names one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from psycopg_pool import ConnectionPool

from minutebook.core.database import make_pool, open_app_pool
from minutebook.core.embedded import start_embedded, stop_embedded
from minutebook.core.migrations import migrate
from minutebook.ingest import queue

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
INGEST_CORPORA = ("aswf-tac", "ipfs-gui", "solid-cg")
SPEEDUP_MIN = 1.7
CALLS = 2000


def notes_folder(work: Path) -> Path:
    folder = work / "notes"
    for name in INGEST_CORPORA:
        shutil.copytree(CORPORA / name, folder / name, ignore=shutil.ignore_patterns("*.json", "README*"))
    return folder


def ingest_rate(url: str, pool: ConnectionPool, folder: Path, workers: int, home: Path) -> tuple[int, float]:
    """Notes ingested and seconds taken by `workers` join processes on a fresh batch."""
    tenant = f"scale{uuid.uuid4().hex[:6]}"
    batch, _ = queue.enqueue(pool, tenant, [str(folder)])
    env = {**os.environ, "DATABASE_URL": url, "MINUTEBOOK_HOME": str(home), "MINUTEBOOK_EMBED_THREADS": "1"}
    command = [sys.executable, "-m", "minutebook.api", "ingest", "--join", str(batch), "--tenant", tenant]
    started = time.perf_counter()
    running = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(workers)]
    for process in running:
        if process.wait() != 0:
            raise SystemExit(f"an ingest worker failed (exit {process.returncode})")
    seconds = time.perf_counter() - started
    done = queue.progress(pool, tenant, batch)
    return done.done, seconds


def warm_model(home: Path) -> None:
    """Export the ONNX model once, where the workers look for it, so neither timed run pays for it."""
    from minutebook.core.embedder import Embedder

    Embedder(models_dir=home / "models").encode_one("warm up")


def token_cost(url: str) -> tuple[float, float, float]:
    """p50 and p99 ms of a shared token, and p50 ms of an in-process one."""
    from minutebook.api.ratelimit import SharedTokenBuckets, TokenBuckets

    pool = open_app_pool(url, min_size=1, max_size=2)
    shared = SharedTokenBuckets(pool, rate=1e9, burst=10**9)
    local = TokenBuckets(rate=1e9, burst=10**9)
    timings: list[float] = []
    for i in range(CALLS):
        started = time.perf_counter()
        shared.take(f"bench{i % 50}")
        timings.append((time.perf_counter() - started) * 1000)
    local_ms: list[float] = []
    for i in range(CALLS):
        started = time.perf_counter()
        local.take(f"bench{i % 50}")
        local_ms.append((time.perf_counter() - started) * 1000)
    pool.close()
    timings = timings[100:]
    return statistics.median(timings), float(sorted(timings)[int(len(timings) * 0.99)]), statistics.median(local_ms)


def slot_cost(url: str) -> tuple[float, float]:
    """p50 and p99 ms of a tenant slot taken and given back, as SharedTenantSlots does (the bench
    calls the SQL itself: nothing imports api)."""
    pool = open_app_pool(url, min_size=1, max_size=2)
    holder = f"bench:{os.getpid()}"
    timings: list[float] = []
    for i in range(CALLS):
        started = time.perf_counter()
        with pool.connection() as conn:
            row = conn.execute(
                "SELECT minutebook_take_slot('requests', %s, %s, %s, %s)", (f"bench{i % 50}", 10**6, holder, 30.0)
            ).fetchone()
        with pool.connection() as conn:
            conn.execute("SELECT minutebook_give_slot(%s)", (row[0] if row else None,))
        timings.append((time.perf_counter() - started) * 1000)
    pool.close()
    timings = timings[100:]
    return statistics.median(timings), float(sorted(timings)[int(len(timings) * 0.99)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="Use this database instead of a fresh embedded server.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="minutebook-scale-"))
    url = args.database_url or start_embedded(work / "pgdata")
    ok = True
    try:
        migrate(url)
        pool = make_pool(url, min_size=1, max_size=4)
        folder = notes_folder(work)
        warm_model(work / "home")
        rows: list[tuple[str, str, str, bool]] = []
        rates: dict[int, float] = {}
        for workers in (1, 2):
            notes, seconds = ingest_rate(url, pool, folder, workers, work / "home")
            rates[workers] = notes / seconds
            rows.append((f"ingest, {workers} worker(s), 1 thread each", f"{notes} notes in {seconds:.1f} s",
                         f"{rates[workers]:.2f} notes/s", True))  # fmt: skip
        speedup = rates[2] / rates[1]
        rows.append(("ingest speed-up, 2 workers / 1", f"{speedup:.2f}x", f">= {SPEEDUP_MIN}x", speedup >= SPEEDUP_MIN))
        p50, p99, local = token_cost(url)
        rows.append(("shared rate limit per request", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                     f"in-process: {local * 1000:.1f} us", True))  # fmt: skip
        p50, p99 = slot_cost(url)
        rows.append(("shared tenant slot per request", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                     "take + give back: 2 round trips", True))  # fmt: skip
        pool.close()
    finally:
        if not args.database_url:
            stop_embedded(work / "pgdata")
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<28}  target / reference")
    for name, value, target, hit in rows:
        print(f"{name:<{width}}  {value:<28}  {target}{'' if hit else '  MISSED'}")
        ok &= hit
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
