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
4. Search at scale: `--passages` (default 1,000,000) passages spread over `--tenants` tenants
   (default 20, so 50,000 each: the shape of a hosted product, where every search is one tenant's)
   loaded into one node and into a 3-node Citus cluster on this same machine (coordinator and 2
   workers, scripts/citus-cluster), the same rows in both: vectors mixed from the real passage
   embeddings of the three corpora, their real texts, dates over two years. Search as users get it
   (search/ranking.py `search_judged`: query embedding, hybrid pool, relevance judge, ranking) with
   the labelled corpora's questions, each in a random tenant; p50/p99 on each, and Citus / one node
   as a ratio. Informative, no target: one machine's two cores run all three Citus nodes, so the
   ratio shows the cost of the extra hop and the gain of smaller per-shard indexes, not the gain of
   more machines (docs/scaling.md does that arithmetic).

Runs on a fresh embedded server unless `--database-url` names one; the Citus side starts its own
cluster (`scripts/citus-cluster start` in a scratch directory) unless `--citus-url` names one, and
is skipped with one line when Citus cannot be built here. `--passages 0` skips part 4;
`--search-only` runs part 4 alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from psycopg_pool import ConnectionPool

from minutebook.core.database import make_pool, open_app_pool, set_local, tenant_transaction
from minutebook.core.embedded import start_embedded, stop_embedded
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings
from minutebook.ingest import queue
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.hybrid import SearchFilters
from minutebook.search.ranking import search_judged
from minutebook.search.relevance import unrelated_similarity

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
INGEST_CORPORA = ("aswf-tac", "ipfs-gui", "solid-cg")
SPEEDUP_MIN = 1.7
CALLS = 2000
CITUS_SCRIPT = ROOT / "scripts" / "citus-cluster"
CITUS_PORT = 56432  # away from the test cluster's 55432, so a bench and `make test-citus` can share the machine
SEARCHES = 400  # timed searches per database (after WARM_SEARCHES untimed ones)
WARM_SEARCHES = 40
DAYS = 730  # passage dates spread over two years; the date-filtered searches ask for one quarter


def notes_folder(work: Path) -> Path:
    folder = work / "notes"
    for name in INGEST_CORPORA:
        shutil.copytree(CORPORA / name, folder / name, ignore=shutil.ignore_patterns("*.json", "README*"))
    return folder


def ingest_rate(url: str, pool: ConnectionPool, folder: Path, workers: int, home: Path) -> tuple[int, float, str]:
    """Notes ingested, seconds taken by `workers` join processes on a fresh batch, and the tenant."""
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
    return done.done, seconds, tenant


def warm_model(home: Path) -> None:
    """Export the ONNX model once, where the workers look for it, so neither timed run pays for it."""
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


MEETING_PASSAGES = 250  # passages per synthetic meeting (a long transcript's worth)


def questions() -> list[str]:
    """The labelled corpora's questions (owners, facts, decisions, and ones the notes cannot
    answer), shuffled once."""
    found: list[str] = []
    for path in sorted((CORPORA / "labels").glob("*.json")):
        labels = json.loads(path.read_text())
        for kind in ("owner", "fact", "decision", "absent"):
            found += [q if isinstance(q, str) else q["q"] for q in labels.get(kind, [])]
    random.Random(3).shuffle(found)
    return found


SECTION = ["Synthetic"]


@dataclass(frozen=True)
class Source:
    """The real passages the synthetic ones are mixed from, with what sql/024 records of each:
    its words as `minutebook_words` reads them and the lexemes of its full-text vector (as stored
    under the synthetic heading). A meeting's vocabulary is then the union of its passages', so
    the load need not read a million passages again (`record_note_words` does, for one meeting)."""

    vectors: np.ndarray
    texts: list[str]
    words: list[list[str]]
    lexemes: list[list[str]]


def source_passages(pool: ConnectionPool, tenant: str) -> Source:
    with tenant_transaction(pool, tenant) as conn:
        rows = conn.execute(
            """SELECT embedding, text,
                      ARRAY(SELECT DISTINCT w FROM minutebook_words(text) AS w),
                      tsvector_to_array(setweight(to_tsvector('english', minutebook_path_text(%s)), 'B')
                                        || setweight(to_tsvector('english', text), 'A'))
               FROM chunks WHERE tenant_id = %s""",
            (SECTION, tenant),
        ).fetchall()
    return Source(np.stack([r[0].to_numpy() for r in rows]), [r[1] for r in rows], [r[2] for r in rows],
                  [r[3] for r in rows])  # fmt: skip


def load_passages(pool: ConnectionPool, tenants: list[str], per_tenant: int, source: Source) -> float:
    """`per_tenant` synthetic passages in each tenant, in meetings of MEETING_PASSAGES, each with
    its vocabulary (sql/024), then the HNSW index built once (the migrations' own definition;
    minutes faster than incremental inserts) and the statistics autovacuum would gather. Seconds
    taken. The same seed gives both databases the same rows."""
    rng = np.random.default_rng(5)
    vectors = source.vectors
    started = time.perf_counter()
    with pool.connection() as conn:
        (index_sql,) = conn.execute("SELECT pg_get_indexdef('chunks_embedding_hnsw'::regclass)").fetchone() or ("",)
        conn.execute("DROP INDEX chunks_embedding_hnsw")
    chunk_types = ["text", "int8", "int4", "text[]", "date", "text", "text", "int4", "int4", "int4", "text", "vector"]
    for tenant in tenants:
        for first in range(0, per_tenant, MEETING_PASSAGES):
            count = min(MEETING_PASSAGES, per_tenant - first)
            a = rng.integers(len(vectors), size=count)
            b = rng.integers(len(vectors), size=count)
            w = rng.uniform(0.5, 1.0, size=(count, 1))
            mixed = w * vectors[a] + (1 - w) * vectors[b] + rng.normal(0, 0.01, (count, vectors.shape[1]))
            mixed = (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)
            day = date(2024, 1, 1) + timedelta(days=int(rng.integers(DAYS)))
            words = sorted({word for i in a for word in source.words[i]})
            terms = Counter(lexeme for i in a for lexeme in source.lexemes[i])
            with tenant_transaction(pool, tenant) as conn:
                mid = conn.execute(
                    """INSERT INTO meetings (tenant_id, source, title, date_start, content_hash, raw_text)
                       VALUES (%s, %s, 'Synthetic meeting', %s, 'x', 'x') RETURNING id""",
                    (tenant, f"synthetic-{first}", day),
                ).fetchone()[0]
                with conn.cursor().copy(
                    """COPY chunks (tenant_id, meeting_id, ordinal, section_path, section_date, text, embed_text,
                                    token_count, line_start, line_end, content_hash, embedding)
                       FROM STDIN WITH (FORMAT BINARY)"""
                ) as copy:
                    copy.set_types(chunk_types)
                    for i in range(count):
                        text = source.texts[a[i]]
                        copy.write_row((tenant, mid, i, SECTION, day, text, text, 100, i + 1, i + 1, "x", mixed[i]))
                with conn.cursor().copy("COPY note_words (tenant_id, meeting_id, word) FROM STDIN") as copy:
                    for word in words:
                        copy.write_row((tenant, mid, word))
                with conn.cursor().copy("COPY note_terms (tenant_id, meeting_id, lexeme, passages) FROM STDIN") as copy:
                    for lexeme, passages in terms.items():
                        copy.write_row((tenant, mid, lexeme, passages))
    with pool.connection() as conn:
        set_local(conn, "maintenance_work_mem", "1GB")  # on Citus, each worker's shard builds too
        conn.execute(index_sql)
    with pool.connection() as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE chunks")
        conn.execute("VACUUM ANALYZE note_terms")  # index-only word counts, as after autovacuum
    return time.perf_counter() - started


def search_times(
    pool: ConnectionPool, embedder: Embedder, tenants: list[str], asked: list[str]
) -> dict[str, tuple[float, float]]:
    """p50/p99 ms of search as users get it, each question in a random tenant, with and without a
    date filter (one quarter of the two years)."""
    pick = random.Random(11)
    for tenant in tenants:  # each tenant's relevance calibration, measured once and kept, as in use
        with tenant_transaction(pool, tenant) as conn:
            unrelated_similarity(conn, embedder, tenant=tenant)
    quarter = SearchFilters(since=date(2024, 4, 1), until=date(2024, 6, 30))
    timings: dict[str, list[float]] = {"no filter": [], "date filter": []}
    for i in range(WARM_SEARCHES + SEARCHES):
        text = asked[i % len(asked)]
        tenant = pick.choice(tenants)
        for name, filters in (("no filter", SearchFilters()), ("date filter", quarter)):
            started = time.perf_counter()
            embedding = embedder.encode_one(text)
            with tenant_transaction(pool, tenant) as conn:
                unrelated = unrelated_similarity(conn, embedder, tenant=tenant)
                search_judged(conn, embedding, text, tenant=tenant, filters=filters, k=10, unrelated=unrelated,
                              windowed=filters.since is not None)  # fmt: skip
            if i >= WARM_SEARCHES:
                timings[name].append((time.perf_counter() - started) * 1000)
    return {name: (statistics.median(t), float(np.percentile(t, 99))) for name, t in timings.items()}


def free_ports(base: int, count: int = 3) -> int:
    """The first base port from `base` up (in steps of 10) with `count` free ports after it: the
    cluster's coordinator and workers (a fixed port was once taken while this bench ran)."""
    for candidate in range(base, base + 1000, 10):
        try:
            for port in range(candidate, candidate + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return candidate
    return base


def start_citus(work: Path) -> tuple[str | None, str]:
    """A 3-node cluster of our own for the bench: (coordinator URL, '') or (None, why not)."""
    check = subprocess.run([str(CITUS_SCRIPT), "check"], capture_output=True, text=True)
    if check.returncode != 0:
        return None, (check.stderr or check.stdout).strip().splitlines()[-1]
    started = subprocess.run(
        [str(CITUS_SCRIPT), "start", "--fresh", "--dir", str(work / "citus"), "--port", str(free_ports(CITUS_PORT))],
        capture_output=True, text=True,
    )  # fmt: skip
    if started.returncode != 0:
        return None, (started.stderr.strip().splitlines() or ["citus-cluster start failed"])[-1]
    return started.stdout.strip(), ""


def search_at_scale(
    one_node_url: str | None,
    citus_url: str | None,
    source: Source,
    passages: int,
    n_tenants: int,
    models_dir: Path,
) -> list[tuple[str, str, str, bool]]:
    """Part 4: the same passages and searches on one node and on Citus; rows for the table."""
    # the product's default runtime, no memory of past queries: every timing embeds its question
    embedder = Embedder(query_memory=0, runtime=Settings().embed_runtime, models_dir=models_dir)
    tenants = [f"scale{i:03d}{uuid.uuid4().hex[:4]}" for i in range(n_tenants)]
    per_tenant = passages // n_tenants
    asked = questions()
    rows: list[tuple[str, str, str, bool]] = []
    measured: dict[str, dict[str, tuple[float, float]]] = {}
    for name, url in (("one node", one_node_url), ("Citus, 2 workers", citus_url)):
        if url is None:
            continue
        migrate(url)
        pool = make_pool(url, min_size=1, max_size=2)
        seconds = load_passages(pool, tenants, per_tenant, source)
        rows.append((f"load {per_tenant * n_tenants:,} passages, {name}", f"{seconds / 60:.1f} min",
                     f"{n_tenants} tenants, COPY + one HNSW build", True))  # fmt: skip
        measured[name] = search_times(pool, embedder, tenants, asked)
        pool.close()
        for setting, (p50, p99) in measured[name].items():
            rows.append((f"search, {name}, {setting}", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                         f"{SEARCHES} searches, embedding included", True))  # fmt: skip
    if len(measured) == 2:
        for setting in ("no filter", "date filter"):
            (p50a, p99a), (p50b, p99b) = measured["one node"][setting], measured["Citus, 2 workers"][setting]
            rows.append((f"search Citus / one node, {setting}", f"p50 {p50b / p50a:.2f}x, p99 {p99b / p99a:.2f}x",
                         "same machine: informative", True))  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="Use this database instead of a fresh embedded server.")
    parser.add_argument("--citus-url", help="Use this Citus coordinator instead of starting a cluster.")
    parser.add_argument("--passages", type=int, default=1_000_000, help="passages for the search at scale (0: skip)")
    parser.add_argument("--tenants", type=int, default=20, help="tenants the passages are spread over")
    parser.add_argument("--search-only", action="store_true", help="run the search at scale alone")
    parser.add_argument(
        "--search-on", choices=["both", "one-node", "citus"], default="both", help="where to load and search"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="minutebook-scale-"))
    url = args.database_url or start_embedded(work / "pgdata")
    citus_started = False
    ok = True
    rows: list[tuple[str, str, str, bool]] = []
    try:
        migrate(url)
        pool = make_pool(url, min_size=1, max_size=4)
        folder = notes_folder(work)
        warm_model(work / "home")
        if args.search_only:
            source_tenant = f"scalesrc{uuid.uuid4().hex[:6]}"
            report = ingest_paths(pool, Embedder(models_dir=work / "home" / "models"), [str(folder)],
                                  options=IngestOptions(tenant=source_tenant))  # fmt: skip
            if report.failed:
                raise SystemExit(f"ingest failed: {report.failed[0].error}")
        else:
            rates: dict[int, float] = {}
            for workers in (1, 2):
                notes, seconds, source_tenant = ingest_rate(url, pool, folder, workers, work / "home")
                rates[workers] = notes / seconds
                rows.append((f"ingest, {workers} worker(s), 1 thread each", f"{notes} notes in {seconds:.1f} s",
                             f"{rates[workers]:.2f} notes/s", True))  # fmt: skip
            speedup = rates[2] / rates[1]
            rows.append(("ingest speed-up, 2 workers / 1", f"{speedup:.2f}x", f">= {SPEEDUP_MIN}x",
                         speedup >= SPEEDUP_MIN))  # fmt: skip
            p50, p99, local = token_cost(url)
            rows.append(("shared rate limit per request", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                         f"in-process: {local * 1000:.1f} us", True))  # fmt: skip
            p50, p99 = slot_cost(url)
            rows.append(("shared tenant slot per request", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                         "take + give back: 2 round trips", True))  # fmt: skip
        source = source_passages(pool, source_tenant)
        pool.close()
        if args.passages:
            citus_url = args.citus_url
            if not citus_url and args.search_on != "one-node":
                citus_url, why = start_citus(work)
                citus_started = citus_url is not None
                if why:
                    print(f"search on Citus skipped: {why}")
            rows += search_at_scale(
                url if args.search_on != "citus" else None,
                citus_url if args.search_on != "one-node" else None,
                source, args.passages, args.tenants, work / "home" / "models",
            )  # fmt: skip
    finally:
        if citus_started:
            subprocess.run([str(CITUS_SCRIPT), "stop", "--dir", str(work / "citus")], capture_output=True)
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
