"""Embedding runtimes side by side: sentence-transformers fp32 on torch against ONNX Runtime
(fp32, and int8 with per-channel MatMul weights), in one run on the same texts.

- speed: embeddings/s over the chunk texts of QMSum val (as ingest makes them), batch 16;
- QMSum val MRR (hybrid search within the query's meeting, exact nearest neighbours: HNSW
  graphs differ from build to build by more than the runtimes do), each runtime its own copy;
- QQP train+val: AUC of the cosine between the two questions of a pair, paraphrase or not.
Targets for a runtime to be the default: >= 1.6x the torch embeddings/s, MRR within 0.01 of
torch, AUC within 0.005. Run alone (`python bench/runtimes.py`) or from bench/ingest.py.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval import quality

from minutebook.core.database import make_pool, tenant_transaction
from minutebook.core.embedded import start_embedded, stop_embedded
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate

PAIRS = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "pairs"
SPEEDUP_MIN, MRR_DELTA_MAX, AUC_DELTA_MAX = 1.6, 0.01, 0.005
WITHIN = "within meeting"


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a paraphrase pair scores above a non-paraphrase (Mann-Whitney, ties halved)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def qqp_auc(embedder: Embedder) -> float:
    pairs = []
    for split in ("train", "val"):
        with (PAIRS / f"qqp-{split}.tsv").open() as f:
            pairs += [(r["q1"], r["q2"], int(r["label"])) for r in csv.DictReader(f, delimiter="\t")]
    a = embedder.encode([p[0] for p in pairs])
    b = embedder.encode([p[1] for p in pairs])
    return auc(np.sum(a * b, axis=1), np.array([p[2] for p in pairs]))


def compare(home: Path) -> tuple[list[tuple[str, float, float, float]], bool]:
    """(runtime, embeddings/s, QMSum MRR, QQP AUC) per runtime, and whether int8 may be the default."""
    work = Path(tempfile.mkdtemp(prefix="minutebook-runtimes-"))
    url = start_embedded(work / "pgdata")
    rows = []
    try:
        texts: list[str] = []
        for runtime in ("torch", "onnx-fp32", "onnx-int8"):
            # a database each: one store never holds vectors of two runtimes
            name = runtime.replace("-", "_")
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            db_url = psycopg.conninfo.make_conninfo(url, dbname=name)
            migrate(db_url)
            pool = make_pool(db_url, min_size=1, max_size=2)
            embedder = Embedder(runtime=runtime, models_dir=home / "models", query_memory=0)
            tenant = f"rt{uuid.uuid4().hex[:6]}"
            mrr = quality(pool, embedder, "val", tenant, exact_vectors=True)[WITHIN]["hybrid"]["mrr"]
            if not texts:  # the same chunk texts for every runtime
                with tenant_transaction(pool, tenant) as conn:
                    texts = [r[0] for r in conn.execute("SELECT embed_text FROM chunks ORDER BY id").fetchall()]
            embedder.encode(texts[:32])  # warm up
            started = time.perf_counter()
            embedder.encode(texts)
            rate = len(texts) / (time.perf_counter() - started)
            rows.append((runtime, rate, mrr, qqp_auc(embedder)))
            print(f"  {runtime}: {rate:.1f} embeddings/s, MRR {mrr:.4f}", flush=True)
            pool.close()
    finally:
        stop_embedded(work / "pgdata")
    return rows, wins(rows, "onnx-int8")


def wins(rows: list[tuple[str, float, float, float]], runtime: str) -> bool:
    base = next(r for r in rows if r[0] == "torch")
    row = next(r for r in rows if r[0] == runtime)
    return (
        row[1] >= SPEEDUP_MIN * base[1]
        and abs(row[2] - base[2]) <= MRR_DELTA_MAX
        and abs(row[3] - base[3]) <= AUC_DELTA_MAX
    )


def show(rows: list[tuple[str, float, float, float]]) -> None:
    base = next(r for r in rows if r[0] == "torch")
    print(f"{'runtime':10} {'embeddings/s':>13} {'speed-up':>9} {'QMSum MRR':>10} {'Δ':>7} {'QQP AUC':>8} {'Δ':>7}")
    for name, rate, mrr, area in rows:
        print(
            f"{name:10} {rate:13.1f} {rate / base[1]:8.2f}x {mrr:10.4f} {mrr - base[2]:+7.4f} {area:8.4f} "
            f"{area - base[3]:+7.4f}"
        )
    print(
        f"targets for the default: >= {SPEEDUP_MIN}x, |Δ MRR| <= {MRR_DELTA_MAX}, |Δ AUC| <= {AUC_DELTA_MAX}: "
        f"onnx-int8 {'meets them' if wins(rows, 'onnx-int8') else 'MISSES them'}"
    )


def main() -> int:
    rows, ok = compare(Path(tempfile.mkdtemp(prefix="minutebook-home-")))
    show(rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
