"""Ingest throughput: pipeline chunks/s against raw model.encode chunks/s on the same texts,
then the embedding runtimes side by side (bench/runtimes.py).

The pipeline embeds each note's chunks and its extracted items with the default runtime; the
raw run encodes exactly those texts with the same embedder and batch size, so the ratio
measures what reading, parsing, chunking, extraction and writing add on top of embedding.
Target: ratio >= 0.85. The runtimes part compares fp32 torch with ONNX fp32 and int8:
embeddings/s and the quality deltas (QMSum MRR, QQP AUC), int8 >= 1.6x within 0.01 / 0.005.
Prints tables; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import make_corpus
from runtimes import compare, show

from minutebook.core.database import make_pool
from minutebook.core.embedded import start_embedded, stop_embedded
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

RATIO_TARGET = 0.85


class RecordingEmbedder(Embedder):
    """The bundled model, remembering every text the pipeline asked it to embed."""

    def __init__(self, runtime: str, models_dir: Path) -> None:
        super().__init__(runtime=runtime, models_dir=models_dir)
        self.seen: list[str] = []

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        self.seen.extend(texts)
        return super().encode(texts, batch_size=batch_size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=int, default=2000, help="notes to generate and ingest")
    parser.add_argument("--skip-runtimes", action="store_true", help="skip the runtime comparison")
    args = parser.parse_args()
    runtime = str(Settings.model_fields["embed_runtime"].default)

    work = Path(tempfile.mkdtemp(prefix="minutebook-bench-"))
    files = make_corpus(work / "notes", args.notes)
    url = start_embedded(work / "pgdata")
    try:
        migrate(url)
        pool = make_pool(url, min_size=1, max_size=4)
        embedder = RecordingEmbedder(runtime, work / "models")
        Embedder.encode(embedder, ["warm up the model"])  # loading is not throughput

        started = time.perf_counter()
        report = ingest_paths(pool, embedder, [str(work / "notes")], options=IngestOptions(tenant="bench"))
        pipeline_s = time.perf_counter() - started
        chunks = report.chunks_written
        assert not report.failed, report.failed[:3]

        with pool.connection() as conn:
            items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        texts = list(embedder.seen)
        started = time.perf_counter()
        Embedder.encode(embedder, texts)
        encode_s = time.perf_counter() - started
        pool.close()
    finally:
        stop_embedded(work / "pgdata")

    pipeline_cps = len(texts) / pipeline_s  # chunks and items: everything the pipeline embedded
    encode_cps = len(texts) / encode_s
    ratio = pipeline_cps / encode_cps
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("runtime (the default)", runtime, ""),
        ("notes", f"{len(files)}", ""),
        ("chunks", f"{chunks}", ""),
        ("items extracted", f"{items}", ""),
        ("pipeline seconds", f"{pipeline_s:.1f}", ""),
        ("notes/s", f"{len(files) / pipeline_s:.1f}", ""),
        ("chunks/s (pipeline)", f"{chunks / pipeline_s:.1f}", ""),
        ("texts/s (pipeline: chunks + items)", f"{pipeline_cps:.1f}", ""),
        ("texts/s (model.encode only, same texts)", f"{encode_cps:.1f}", ""),
        ("pipeline / encode ratio", f"{ratio:.3f}", f">= {RATIO_TARGET}"),
        ("peak RSS (MB)", f"{rss_mb:.0f}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'value':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")
    ok = ratio >= RATIO_TARGET
    print("PASS" if ok else "FAIL: pipeline overhead above 15% of embedding time")
    if not args.skip_runtimes:
        print("\nembedding runtimes (same chunk texts, one run):")
        results, int8_wins = compare(work)
        show(results)
        ok &= int8_wins or runtime != "onnx-int8"
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
