"""What the note grammar reads, without a database: owners and attendees on every labelled corpus.

For each owner label, the item extracted from the labelled line (or the record that line belongs
to) must name one of the labelled spellings: that is what `who-owns` can answer at best. A label
whose line gave an item with no owner is a *false unassigned* (the line names its owner). For each
attendance label, the person must be among the note's parsed attendees (name, first name or
handle). Runs in seconds: the loop for changing the grammar; `bench/answers.py` is the end-to-end
measure through search.

    python bench/extraction.py [--corpus NAME] [-v] [--no-loco]

Then a leave-one-corpus-out report for the grammar's knobs (the numbers parsing and extraction
use): for each held-out corpus, each knob takes the candidate value best on the *other* corpora,
and the held-out corpus is scored with it. A knob whose choice moves with the held-out corpus, or
that only helps one corpus, is a knob to remove.

Targets (issue 24): owner on the line >= 0.85 per corpus, no false unassigned, attendees >= 0.95,
and >= 0.80 owner on the line on each held-out corpus.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections import defaultdict
from datetime import date

from answers import Corpus, Tally, _files, corpora

from minutebook.ingest.extract import ExtractedItem, extract_items
from minutebook.ingest.parse import ParsedNote, parse_note
from minutebook.ingest.spoken import extract_spoken

TARGETS = {"owner": 0.85, "attendees": 0.95, "false_unassigned": 0, "held_out_owner": 0.80}
# The grammar's knobs at ingest: (module, name, candidate values). Each is read when a note is
# parsed, so setting the attribute is enough to try a value.
KNOBS: list[tuple[str, str, list[int]]] = [
    ("minutebook.ingest.grammar.notes", "_MAX_ATTENDANCE_LABEL_WORDS", [2, 3, 5, 8]),
    ("minutebook.ingest.parse", "_MAX_PSEUDO_HEADING_WORDS", [4, 7, 10]),
    ("minutebook.ingest.attendance", "_MAX_NAME_TOKENS", [3, 4, 5, 7]),
    ("minutebook.ingest.parse", "_HEAD_LINES", [10, 25, 50]),
]
TODAY = date(2026, 12, 1)


def read_corpus(corpus: Corpus) -> dict[str, tuple[ParsedNote, list[ExtractedItem]]]:
    """source → (parsed note, items), with the people of every note's attendance known to all
    (what ingesting the corpus as one batch gives)."""
    parsed = {}
    for source, path in _files(corpus.paths):
        text = path.read_text(encoding="utf-8", errors="replace")
        parsed[source] = parse_note(text, path.name, reference=TODAY)
    people = {n.lower() for p in parsed.values() for a in p.attendees for n in (a.name, a.handle) if n}
    people |= {n.split()[0] for n in people if " " in n}
    return {s: (p, extract_spoken(p) if p.turns else extract_items(p, people)) for s, p in parsed.items()}


def _spellings(owners: list[str]) -> set[str]:
    """Every labelled spelling and its first name: the people table joins "Sarah" to "Sarah Chen"."""
    return {n for o in owners for n in (o.lower().lstrip("@"), o.lower().lstrip("@").split()[0])}


def _item_at(items: list[ExtractedItem], note: ParsedNote, line: int) -> ExtractedItem | None:
    """The item read from 1-based `line`: its own line, else the record whose fields include it."""
    index = line - 1
    for item in items:
        if item.line == index:
            return item
    text = note.lines[index].strip() if 0 <= index < len(note.lines) else ""
    return next((i for i in items if text and text in i.evidence and i.line < index), None)


def measure(corpus: Corpus, notes: dict[str, tuple[ParsedNote, list[ExtractedItem]]]) -> dict[str, Tally]:
    t = {"owner": Tally(), "false_unassigned": Tally(), "attendees": Tally()}
    for lab in corpus.labels["owner"]:
        source = lab["source"].removeprefix("rust-lang-team/") if corpus.name == "rust-lang-team" else lab["source"]
        found = next((v for k, v in notes.items() if k.endswith(source)), None)
        if found is None:
            t["owner"].add(False, f"{lab['q']!r}: {source} not read")
            continue
        note, items = found
        if "line" not in lab:  # Rust labels name the file only: an item there about the work, owned
            words = {w for w in lab["q"].lower().split() if len(w) > 3}
            about = [i for i in items if words & set(i.text.lower().split())]
            owned = [i for i in about if {o.name.lower() for o in i.owners} & _spellings(lab["owners"])]
            t["owner"].add(bool(owned), f"{lab['q']!r} want {lab['owners'][:2]} in {source}")
            continue
        item = _item_at(items, note, lab["line"])
        named = {n.lower() for o in (item.owners if item else []) for n in (o.name, o.written.lstrip("@"))}
        ok = bool(named & _spellings(lab["owners"]))
        line = note.lines[lab["line"] - 1].strip()[:110] if lab["line"] - 1 < len(note.lines) else "?"
        got = f"{item.kind} {sorted(named)} {item.text[:50]!r}" if item else "no item"
        t["owner"].add(ok, f"{lab['q']!r} want {lab['owners'][:2]} got {got}\n      {source}:{lab['line']}: {line}")
        if item is not None:
            t["false_unassigned"].add(bool(item.owners), f"{source}:{lab['line']}: {line}")
    for source, listed in corpus.labels.get("attendance", {}).items():
        found = next((v for k, v in notes.items() if k.endswith(source.removeprefix("rust-lang-team/"))), None)
        known: set[str] = set()
        if found:
            for a in found[0].attendees:
                known |= {a.name.lower(), a.name.split()[0].lower(), (a.handle or "").lower()}
        for person in listed:
            t["attendees"].add(person.lower().lstrip("@") in known, f"{source}: {person}")
    return t


def _score(t: dict[str, Tally]) -> float:
    """One number per corpus for choosing a knob: owners and attendees, equally."""
    parts = [t[k].share for k in ("owner", "attendees") if t[k].total]
    return sum(parts) / len(parts) if parts else 1.0


def choose_held_out(scores: dict[int, dict[str, float]], held_out: str, default: int) -> int:
    """The candidate best on every corpus but `held_out` (summed); the default on a tie: a value
    is changed only when the other corpora say so."""

    def on_others(v: int) -> float:
        return round(sum(s for c, s in scores[v].items() if c != held_out), 9)

    return max(scores, key=lambda v: (on_others(v), v == default))


def verdict(scores: dict[int, dict[str, float]], chosen: dict[str, int]) -> str:
    """What the knob does: nothing anywhere (remove it), one value everywhere, or a choice that
    moves with the held-out corpus."""
    if len({tuple(sorted(v.items())) for v in scores.values()}) == 1:
        return "no effect on owners or attendees"
    return "stable" if len(set(chosen.values())) == 1 else "moves by corpus"


def loco(chosen: list[Corpus]) -> list[str]:
    """Leave-one-corpus-out over KNOBS; prints a table, returns the targets missed."""
    names = [c.name for c in chosen]
    failed: list[str] = []
    print("\nleave-one-corpus-out: each knob chosen on the other corpora, scored on the held-out one")
    print(f"{'knob':<30}{'default':<9}" + "".join(f"{n[:13]:<14}" for n in names) + "verdict")
    for module_name, attr, candidates in KNOBS:
        module = importlib.import_module(module_name)
        default = getattr(module, attr)
        scores: dict[int, dict[str, float]] = {}
        owners: dict[int, dict[str, float]] = {}
        try:
            for value in dict.fromkeys([default, *candidates]):
                setattr(module, attr, value)
                measured = {c.name: measure(c, read_corpus(c)) for c in chosen}
                scores[value] = {n: _score(t) for n, t in measured.items()}
                owners[value] = {n: t["owner"].share for n, t in measured.items() if t["owner"].total}
        finally:
            setattr(module, attr, default)
        cells = []
        picked = {n: choose_held_out(scores, n, default) for n in names}
        for n in names:
            value = picked[n]
            cells.append(f"{value}:{scores[value][n]:.2f}" + ("*" if scores[value][n] < scores[default][n] else ""))
            if n in owners[value] and owners[value][n] < TARGETS["held_out_owner"]:
                failed.append(f"{n}: held-out owner {owners[value][n]:.2f} with {attr}={value}")
        print(f"{attr[:29]:<30}{default!s:<9}" + "".join(f"{c:<14}" for c in cells) + verdict(scores, picked))
    print("cells: value chosen on the other corpora : held-out score (owners+attendees)/2; * = worse than default")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", help="Only this corpus (repeatable).")
    parser.add_argument("--verbose", "-v", action="store_true", help="Print every miss.")
    parser.add_argument("--no-loco", action="store_true", help="Skip the leave-one-corpus-out report.")
    args = parser.parse_args()
    chosen = [c for c in corpora() if not args.corpus or c.name in args.corpus]
    totals: dict[str, Tally] = defaultdict(Tally)
    failed: list[str] = []
    print(f"{'corpus':<16}{'owner on line':<16}{'false unassigned':<19}{'attendees':<14}")
    for corpus in chosen:
        t = measure(corpus, read_corpus(corpus))
        fu = t["false_unassigned"]
        print(f"{corpus.name:<16}{t['owner'].show():<16}{fu.total - fu.right:<19}{t['attendees'].show():<14}")
        for name, tally in t.items():
            totals[name].merge(tally)
            if args.verbose:
                for miss in tally.misses:
                    print(f"  miss [{name}] {miss}")
        if t["owner"].total and t["owner"].share < TARGETS["owner"]:
            failed.append(f"{corpus.name}: owner {t['owner'].share:.2f} < {TARGETS['owner']}")
        if t["attendees"].total and t["attendees"].share < TARGETS["attendees"]:
            failed.append(f"{corpus.name}: attendees {t['attendees'].share:.2f} < {TARGETS['attendees']}")
        if fu.total - fu.right > TARGETS["false_unassigned"]:
            failed.append(f"{corpus.name}: {fu.total - fu.right} false unassigned")
    fu = totals["false_unassigned"]
    print(f"{'total':<16}{totals['owner'].show():<16}{fu.total - fu.right:<19}{totals['attendees'].show():<14}")
    if not args.no_loco:
        failed += loco(chosen)
    for line in failed:
        print(f"MISSED {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
