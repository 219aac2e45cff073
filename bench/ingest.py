"""Ingest throughput: pipeline chunks/s against raw model.encode chunks/s on the same texts.

Target: the pipeline keeps >= 85% of raw embedding throughput (parsing, chunking and writing
cost at most 15% on top of embedding). Prints a table; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import make_corpus

from minutebook.core.database import make_pool
from minutebook.core.embedded import start_embedded, stop_embedded
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

RATIO_TARGET = 0.85


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=int, default=2000, help="notes to generate and ingest")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="minutebook-bench-"))
    files = make_corpus(work / "notes", args.notes)
    url = start_embedded(work / "pgdata")
    try:
        migrate(url)
        pool = make_pool(url, min_size=1, max_size=4)
        embedder = Embedder()
        embedder.encode(["warm up the model"])  # loading is not throughput

        started = time.perf_counter()
        report = ingest_paths(pool, embedder, [str(work / "notes")], options=IngestOptions(tenant="bench"))
        pipeline_s = time.perf_counter() - started
        chunks = report.chunks_written
        assert not report.failed, report.failed[:3]

        with pool.connection() as conn:
            texts = [r[0] for r in conn.execute("SELECT embed_text FROM chunks ORDER BY id").fetchall()]
        started = time.perf_counter()
        embedder.encode(texts)
        encode_s = time.perf_counter() - started
        pool.close()
    finally:
        stop_embedded(work / "pgdata")

    pipeline_cps = chunks / pipeline_s
    encode_cps = len(texts) / encode_s
    ratio = pipeline_cps / encode_cps
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("notes", f"{len(files)}", ""),
        ("chunks", f"{chunks}", ""),
        ("pipeline seconds", f"{pipeline_s:.1f}", ""),
        ("notes/s", f"{len(files) / pipeline_s:.1f}", ""),
        ("chunks/s (pipeline)", f"{pipeline_cps:.1f}", ""),
        ("chunks/s (model.encode only)", f"{encode_cps:.1f}", ""),
        ("pipeline / encode ratio", f"{ratio:.3f}", f">= {RATIO_TARGET}"),
        ("peak RSS (MB)", f"{rss_mb:.0f}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'value':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")
    ok = ratio >= RATIO_TARGET
    print("PASS" if ok else "FAIL: pipeline overhead above 15% of embedding time")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
