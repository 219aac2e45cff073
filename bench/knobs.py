"""The thresholds and weights read at question time, and leave-one-corpus-out (LOCO) selection.

Each knob names a module constant of `search/` that the question path reads when it runs (never one
baked into SQL text or a default argument at import), the values bench/answers.py tries for it, and
which question groups it can move:

  owner    who-owns on the labelled owner questions (correct@1, declines)
  search   search on the labelled fact and decision questions (hit@1, declines)
  absent   search, who-owns and ask on the absent questions (all three decline)
  ask      ask on the answerable questions (declines): with the absent questions alone, the judge
           that declines everything would win

A knob is set by `setattr` on its home module and on every module that imported it by name
(`from minutebook.search.relevance import ITEM_SPELLING`), found in their source at run time:
constants move between modules while the code changes, and a knob that is no longer where this
table says is reported, not a crash.

`choose`, `loco` and `verdict` are pure: a table of scores in, a choice out (`python bench/knobs.py`
checks them on a made-up table).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import inspect
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

GROUPS = ("owner", "search", "absent", "ask")
OWNER = frozenset({"owner", "absent"})  # who-owns' matching: owner questions, and ask's items
JUDGE = frozenset(GROUPS)  # the relevance judge: who-owns, search and ask decline by it alike
SEARCH = frozenset({"search", "absent"})  # passage retrieval: search and ask
TIE = 1e-9


@dataclass(frozen=True)
class Knob:
    module: str  # "minutebook.search.coverage"
    attr: str  # "WORDS_COVERED"
    candidates: tuple[float, ...]  # tried besides the current value (3-4 values in all keep the sweep short)
    affects: frozenset[str]  # the question groups the knob can move (GROUPS)
    key: str | None = None  # an entry of a dict constant: WEIGHTS["fulltext"]

    @property
    def name(self) -> str:
        where = f"{self.module.rsplit('.', 1)[-1]}.{self.attr}"
        return f"{where}[{self.key}]" if self.key else where


S = "minutebook.search."
KNOBS: tuple[Knob, ...] = (
    # search/relevance.py: the one relevance judge ("is this in the notes?") and its item rules
    Knob(S + "relevance", "WORDS_COVERED", (0.3, 0.35, 0.45), JUDGE),
    Knob(S + "relevance", "MEANING_MARGIN", (0.2, 0.25, 0.35), JUDGE),
    Knob(S + "relevance", "TERMS_TOGETHER", (1, 3), JUDGE),
    Knob(S + "relevance", "ITEM_SIMILARITY", (0.35, 0.40, 0.50), OWNER),
    Knob(S + "relevance", "ITEM_ALL_WORDS_SIMILARITY", (0.15, 0.35), OWNER),
    Knob(S + "relevance", "ITEM_SPELLING", (0.45, 0.65), OWNER),
    Knob(S + "relevance", "ITEM_WHOLE_TOPIC", (0.6, 1.0), OWNER),
    Knob(S + "relevance", "ITEM_WORDS_COVERED", (0.3, 0.4), OWNER),
    Knob(S + "relevance", "ITEM_UNKNOWN_COVERED", (0.5, 0.7), OWNER),
    # search/owners.py: which assignment is the latest, and owned work first
    Knob(S + "owners", "SAME_THREAD_SIMILARITY", (0.75, 0.90), frozenset({"owner"})),
    Knob(S + "owners", "OWNED_WEIGHT", (1.0, 1.5), frozenset({"owner"})),
    Knob(S + "owners", "COVERAGE_FLOOR", (0.25, 1.0), frozenset({"owner"})),
    # search/ranking.py: the passages' order (a weighted sum of meaning, words, coverage, title, decision)
    Knob(S + "ranking", "RANK_WEIGHTS", (0.0, 0.2, 0.3), SEARCH, key="words"),
    Knob(S + "ranking", "RANK_WEIGHTS", (0.1, 0.2, 0.5), SEARCH, key="coverage"),
    Knob(S + "ranking", "RANK_WEIGHTS", (0.0, 0.1, 0.5), SEARCH, key="title"),
    Knob(S + "ranking", "RANK_WEIGHTS", (0.0, 0.05, 0.2), SEARCH, key="decision"),
    Knob(S + "ranking", "RANK_POOL", (20, 60), SEARCH | JUDGE),
    Knob(S + "coverage", "TYPO_SIMILARITY", (0.65, 0.85), JUDGE),
    # search/hybrid.py: reciprocal rank fusion chooses the pool
    Knob(S + "hybrid", "RRF_K", (20, 120), SEARCH),
    Knob(S + "hybrid", "WEIGHTS", (0.5, 2.0), SEARCH, key="vector"),
    Knob(S + "hybrid", "WEIGHTS", (0.5, 2.0), SEARCH, key="fulltext"),
    Knob(S + "hybrid", "WEIGHTS", (0.5, 2.0), SEARCH, key="trigram"),
    Knob(S + "hybrid", "COMMON_SHARE", (0.02, 0.10), SEARCH),
    Knob(S + "hybrid", "MAX_WORDS", (3, 6), SEARCH),
)

# Read at question time but not swept, and why.
NOT_SWEPT: tuple[tuple[str, str], ...] = (
    ("owners.RRF_K", "formatted into the match SQL at import: setting it later changes nothing"),
    ("hybrid.RANK_CAP", "a default argument of hybrid_search (bound at import); a cost bound, not a score"),
    ("hybrid.SPELL_POOL", "a cost bound (trigram re-scores the leaders only)"),
    ("coverage.DF_CAP, hybrid.DF_CAP", "cost bounds on the document-frequency count"),
    ("ranking.WORDS_K1, WORDS_B, PASSAGE_TOKENS", "BM25's textbook constants and the passages' median length"),
    ("relevance.UNRELATED_QUESTIONS", "the instrument the meaning bar is measured with, not a threshold"),
    ("extractive.MAX_LINES, ITEM_SCORE", "shape the extractive answer's text, which no label scores"),
)

# Thresholds and weights written inline in search/: no name, so neither a home nor a sweep.
NEEDS_A_NAME: tuple[tuple[str, str], ...] = (
    ("owners._final_score", "0.015 × spelling + 0.01 × similarity: tie-breaking weights"),
    ("owners._MATCH_SQL", "ws >= 0.3: the trigram floor for the spelling signal to take part in fusion"),
    ("owners._THREAD_SQL", "similarity(text) >= 0.6, context similarity >= 0.3: the same work elsewhere"),
    ("owners._relevant_rows", "pool max(20, 4k), k × 3: candidates fetched"),
    ("coverage.key_terms", "+ 0.5: the weight every key term gets on top of its idf"),
    ("hybrid.hybrid_search", "pool=40: candidates per signal (a default argument)"),
    ("modes.fuzzy", "threshold=0.3 and 0.5: fuzzy entity matching"),
)


@dataclass
class Bound:
    """A knob found in the running code: its current value and every module that holds it."""

    knob: Knob
    default: float
    modules: list[ModuleType] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        """The current value first, then the candidates (each once)."""
        return list(dict.fromkeys([self.default, *self.knob.candidates]))


@functools.cache
def _names_imported(module: ModuleType) -> frozenset[tuple[str, str]]:
    """(module, name) of every `from module import name` in `module`'s source (not renamed)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    return frozenset(
        (node.module or "", a.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for a in node.names
        if a.asname in (None, a.name)
    )


def bind(knob: Knob) -> Bound | str:
    """The knob as the code holds it now, or why it cannot be set (it moved, it is gone)."""
    try:
        home = importlib.import_module(knob.module)
    except ImportError as exc:
        return f"{knob.name}: module {knob.module} not importable ({exc})"
    if not hasattr(home, knob.attr):
        return f"{knob.name}: no {knob.attr} in {knob.module} any more"
    value = getattr(home, knob.attr)
    if knob.key is not None:
        if not isinstance(value, Mapping) or knob.key not in value:
            return f"{knob.name}: {knob.attr} has no entry {knob.key!r}"
        value = value[knob.key]
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"{knob.name}: {value!r} is not a number"
    importers = [
        m
        for name, m in sorted(sys.modules.items())
        if name.startswith("minutebook.") and m is not home and (knob.module, knob.attr) in _names_imported(m)
    ]
    return Bound(knob, value, [home, *importers])


@contextlib.contextmanager
def setting(bound: Bound, value: float) -> Iterator[None]:
    """The knob at `value` in every module that holds it, for the block; then as it was."""
    knob = bound.knob
    saved = [(m, getattr(m, knob.attr)) for m in bound.modules]
    try:
        for m, old in saved:
            setattr(m, knob.attr, {**old, knob.key: value} if knob.key is not None else value)
        yield
    finally:
        for m, old in saved:
            setattr(m, knob.attr, old)


# --- leave-one-corpus-out selection (pure) ---

Scores = Mapping[str, Mapping[float, float]]  # corpus → value → score on that corpus (higher is better)


def choose(scores: Scores, default: float, corpora: Sequence[str]) -> float:
    """The value with the best summed score on `corpora`; on a tie the default stays, else the
    tied value nearest it (no move without evidence)."""
    values = list(next(iter(scores.values())))
    total = {v: sum(scores[c][v] for c in corpora) for v in values}
    best = max(total.values())
    tied = [v for v in values if total[v] >= best - TIE]
    return default if default in tied else min(tied, key=lambda v: abs(v - default))


@dataclass(frozen=True)
class HeldOut:
    corpus: str
    chosen: float  # chosen on every other corpus
    score: float  # the held-out corpus's score with the chosen value
    default_score: float  # …and with the current value
    best: float  # the best score any value gets on it (what choosing on it would have scored)


def loco(scores: Scores, default: float) -> list[HeldOut]:
    """Each corpus held out in turn: the value chosen on the others, scored on it."""
    out = []
    for held in scores:
        others = [c for c in scores if c != held]
        chosen = choose(scores, default, others) if others else default
        row = scores[held]
        out.append(HeldOut(held, chosen, row[chosen], row[default], max(row.values())))
    return out


def verdict(scores: Scores, default: float) -> str:
    """What the sweep says about the knob:
    "no effect"            no corpus's score moves with it;
    "only moves X"         one corpus's score moves, no other's: a knob that only helps one corpus;
    "v helps only X"       the corpora disagree, and value v beats the current one on X alone;
    "split: …"             the corpora disagree otherwise;
    ""                     some value is the best on every corpus that it moves."""
    moved = [c for c, row in scores.items() if max(row.values()) - min(row.values()) > TIE]
    if not moved:
        return "no effect"
    if len(moved) == 1 and len(scores) > 1:
        return f"only moves {moved[0]}"
    best = {c: {v for v, s in scores[c].items() if s >= max(scores[c].values()) - TIE} for c in moved}
    if set.intersection(*best.values()):
        return ""
    preferred: set[float] = set().union(*best.values())
    gains = {v: [c for c in moved if scores[c][v] > scores[c][default] + TIE] for v in preferred}
    lone = [(v, won[0]) for v, won in gains.items() if v != default and len(won) == 1 and v in best[won[0]]]
    if len(lone) == 1:
        return f"{lone[0][0]:g} helps only {lone[0][1]}"
    return "split: " + ", ".join(f"{c} {'/'.join(f'{v:g}' for v in sorted(best[c]))}" for c in moved)


def _self_check() -> None:
    """The selection on a made-up table, where the right answers are known; every knob set and restored."""
    importlib.import_module(S + "answer")  # the whole question path, so importers are found
    table: dict[str, dict[float, float]] = {
        "a": {0.5: 1.0, 0.3: 2.0, 0.7: 0.0},
        "b": {0.5: 1.0, 0.3: 2.0, 0.7: 1.0},
        "c": {0.5: 3.0, 0.3: 1.0, 0.7: 3.0},
    }
    # held out a: b+c → 0.5: 4, 0.3: 3, 0.7: 4 → tie, the default stays
    # held out b: a+c → 0.5: 4, 0.3: 3, 0.7: 3 → 0.5; held out c: a+b → 0.3 (4 vs 2, 1)
    got = {h.corpus: (h.chosen, h.score, h.default_score, h.best) for h in loco(table, 0.5)}
    assert got == {"a": (0.5, 1.0, 1.0, 2.0), "b": (0.5, 1.0, 1.0, 2.0), "c": (0.3, 1.0, 3.0, 3.0)}, got
    assert choose({"a": {0.5: 1.0, 0.2: 2.0, 0.9: 2.0}}, 0.5, ["a"]) == 0.2  # tie: nearest the default
    assert verdict(table, 0.5).startswith("split"), verdict(table, 0.5)
    assert verdict({"a": {0.5: 1.0, 0.3: 1.0}, "b": {0.5: 1.0, 0.3: 1.0}}, 0.5) == "no effect"
    assert verdict({"a": {0.5: 1.0, 0.3: 2.0}, "b": {0.5: 1.0, 0.3: 1.0}}, 0.5) == "only moves a"
    three = {"a": {0.5: 1.0, 0.3: 2.0}, "b": {0.5: 2.0, 0.3: 1.0}, "c": {0.5: 2.0, 0.3: 1.0}}
    assert verdict(three, 0.5) == "0.3 helps only a", verdict(three, 0.5)
    assert verdict({"a": {0.5: 1.0, 0.3: 2.0}, "b": {0.5: 1.0, 0.3: 3.0}}, 0.5) == ""
    missing = bind(Knob(S + "coverage", "NO_SUCH_KNOB", (1.0,), JUDGE))
    assert isinstance(missing, str) and "NO_SUCH_KNOB" in missing
    for knob in KNOBS:
        bound = bind(knob)
        if isinstance(bound, str):
            print(f"knob not found: {bound}")
            continue
        before = [getattr(m, knob.attr) for m in bound.modules]
        with setting(bound, 12345):
            now = [getattr(m, knob.attr) for m in bound.modules]
            assert all((v[knob.key] if knob.key else v) == 12345 for v in now), knob.name
        assert [getattr(m, knob.attr) for m in bound.modules] == before, knob.name
        held = ", ".join(m.__name__.rsplit(".", 1)[-1] for m in bound.modules)
        print(f"{knob.name:<36} {bound.default:<6g} in {held}")
    print("knobs: selection checks passed")


def candidates_of(name: str) -> list[Knob]:
    """Knobs whose name contains `name` (`--loco-knobs owners`, `--loco-knobs WORDS_COVERED`)."""
    return [k for k in KNOBS if name.lower() in k.name.lower()]


def as_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


if __name__ == "__main__":
    _self_check()
