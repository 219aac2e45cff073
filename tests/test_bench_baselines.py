"""The retrieval bench judges the textbook windows and the product's hits by one rule (pure parts only)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

baselines = pytest.importorskip("baselines")
retrieval = pytest.importorskip("retrieval")


def test_windows_carry_the_one_based_lines_they_span() -> None:
    text = "\n".join(" ".join(f"w{line}_{i}" for i in range(100)) for line in range(5))  # 5 lines x 100 words
    windows = baselines.windows_of("m", text)
    assert [(w.line_start, w.line_end) for w in windows] == [(1, 2), (2, 4), (4, 5)]
    assert all(len(w.text.split()) <= baselines.WINDOW_WORDS for w in windows)


def test_line_n_is_turn_n_minus_one() -> None:
    assert retrieval.span("Bed002", 1, 12) == ("Bed002", 0, 11)


def test_score_by_turn_overlap_in_the_right_meeting() -> None:
    query = {"meeting_id": "A", "relevant_turns": [[10, 20], [40, 45]]}
    spans = [("B", 10, 20), ("A", 0, 9), ("A", 18, 30), ("A", 45, 50)]
    got = retrieval.score(spans, query, (1, 3, 4))
    assert got["recall@1"] == 0.0 and got["recall@3"] == 0.5 and got["recall@4"] == 1.0
    assert got["mrr"] == pytest.approx(1 / 3)
    assert got["hit@1"] == 0.0 and got["hit@5"] == 1.0
    assert retrieval.score([], query)["mrr"] == 0.0
