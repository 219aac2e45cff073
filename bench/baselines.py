"""The retrievers a user would build in an afternoon, as the bar the product's search must clear.

Each note is cut into windows of `WINDOW_WORDS` words overlapping by `OVERLAP_WORDS` (the
common LangChain-style recipe). Two rankers over the same windows:

- dense: the product's own embedder (same model, same runtime), cosine top k;
- BM25: Okapi BM25 (k1 = 1.5, b = 0.75) over lower-cased word tokens, no stemming, no stop list.

A window keeps the 1-based line span it came from, so a hit is judged like the product's: the
right file, and the answer's line inside the passage.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minutebook.core.embedder import Embedder

WINDOW_WORDS = 200
OVERLAP_WORDS = 50
BM25_K1 = 1.5
BM25_B = 0.75
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Window:
    source: str  # as the caller names the file
    line_start: int  # 1-based
    line_end: int
    text: str


def windows_of(source: str, text: str) -> list[Window]:
    """Overlapping word windows of one note, each with the lines it spans."""
    words: list[tuple[str, int]] = [
        (word, number) for number, line in enumerate(text.splitlines(), start=1) for word in line.split()
    ]
    step = WINDOW_WORDS - OVERLAP_WORDS
    out: list[Window] = []
    for start in range(0, max(len(words), 1), step):
        part = words[start : start + WINDOW_WORDS]
        if not part:
            break
        out.append(Window(source, part[0][1], part[-1][1], " ".join(w for w, _ in part)))
        if start + WINDOW_WORDS >= len(words):
            break
    return out


def load_windows(files: list[tuple[str, Path]]) -> list[Window]:
    """Windows of every (name, path) pair; unreadable or empty files give none."""
    out: list[Window] = []
    for name, path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            out.extend(windows_of(name, text))
    return out


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class DenseWindows:
    """Cosine top k over window embeddings from the product's embedder."""

    def __init__(self, embedder: Embedder, windows: list[Window], vectors: np.ndarray | None = None) -> None:
        """`vectors`: the windows' embeddings when already computed (one row per window), so a
        caller embedding many windows once can search them in several groupings."""
        self.embedder = embedder
        self.windows = windows
        if vectors is None:
            vectors = embedder.encode([w.text for w in windows])
        self.vectors = np.array(vectors, dtype=np.float32).reshape(len(windows), -1)
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.vectors /= np.where(norms == 0, 1, norms)

    def search(self, query: str, k: int = 5, *, query_vector: np.ndarray | None = None) -> list[Window]:
        """`query_vector`: the query's embedding when the caller has it already."""
        if not self.windows:
            return []
        raw = self.embedder.encode([query])[0] if query_vector is None else query_vector
        q = np.array(raw, dtype=np.float32)
        q /= np.linalg.norm(q) or 1.0
        scores = self.vectors @ q
        return [self.windows[i] for i in np.argsort(-scores)[:k]]


class BM25Windows:
    """Okapi BM25 over the same windows."""

    def __init__(self, windows: list[Window]) -> None:
        self.windows = windows
        self.docs = [Counter(_tokens(w.text)) for w in windows]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / max(len(self.lengths), 1)
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, query: str, k: int = 5) -> list[Window]:
        terms = [t for t in set(_tokens(query)) if t in self.idf]
        scored: list[tuple[float, int]] = []
        for i, (doc, length) in enumerate(zip(self.docs, self.lengths, strict=True)):
            score = 0.0
            for t in terms:
                f = doc.get(t, 0)
                if f:
                    score += self.idf[t] * f * (BM25_K1 + 1) / (f + BM25_K1 * (1 - BM25_B + BM25_B * length / self.avg))
            if score > 0:
                scored.append((score, i))
        scored.sort(reverse=True)
        return [self.windows[i] for _, i in scored[:k]]
