"""Answers on real minutes nobody here wrote: owners, facts, decisions, attendees and questions the
notes do not cover, on every hand-labelled corpus, each in a tenant of its own:

  rust-lang-team   ../shared/corpora/rust-lang-team (triage, design), labels in bench/answers_labels.json
  solid-cg, aswf-tac, ipfs-gui
                   ../shared/corpora/<name>, labels in ../shared/corpora/labels/<name>.json
  styles           bench/styles: our own retro, 1:1, incident review, board and steering minutes
  samples          examples/notes, the sample questions of bench/answers_labels.json

  who-owns correct@1   owner questions whose first named owner is the labelled person
  search hit@1 / @5    fact and decision questions whose first (any of the first 5) passage is from
                       a labelled source and, where the label gives the answer's line, holds it
  attendees parsed     listed people (as written) found among the meeting's stored attendees
  absent declined      absent questions that search, who-owns and ask all answer "not in the notes"
  paraphrase hit@5     answerable questions worded unlike the notes (bench/paraphrase_labels.json:
                       synonyms, other word forms) whose answer line is in the first 5 passages
  false declines       answerable questions (owner, fact, decision, paraphrase) that were declined
The search rows print the textbook retrievers beside the product (bench/baselines.py: 200-word
windows with a 50-word overlap, dense with the same embedder, and BM25). One table per corpus,
then the total. Targets: who-owns correct@1 >= 0.85 and attendees >= 0.95 on every corpus;
absent declined >= 0.8 and false declines <= 0.05 overall; search hit@1 on facts >= 0.6 overall.

Then the leave-one-corpus-out report (`--no-loco` skips it, `--loco-knobs NAME` sweeps only some):
every question-time threshold and weight of bench/knobs.py is tried at 3-4 values on every corpus
(one ingest serves them all: only the questions are asked again); each corpus held out in turn gets
the value best on the others, scored on it beside the current value, and a knob that moves one
corpus only, or whose best value is one corpus's alone, is flagged. Then every knob at its
held-out choice at once: who-owns correct@1 >= 0.80 on each held-out corpus.

Runs on a fresh embedded server by default; `--database-url URL` reuses a database (unchanged
notes are not re-ingested when `--tenant-prefix` names the same tenants again).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import knobs
from baselines import BM25Windows, DenseWindows, load_windows
from psycopg_pool import ConnectionPool

from minutebook.cache.prices import PriceTable
from minutebook.core.database import open_app_pool, tenant_transaction
from minutebook.core.embedded import start_embedded, stop_embedded
from minutebook.core.embedder import Embedder
from minutebook.core.migrations import migrate
from minutebook.ingest.pipeline import IngestOptions, IngestReport, ingest_paths
from minutebook.search.answer import AskOptions, ask
from minutebook.search.notes_search import search_notes
from minutebook.search.owners import Owner, OwnerAnswer, owner_of

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CORPORA = ROOT.parent / "shared" / "corpora"
SAMPLES = ROOT / "examples" / "notes"
RUST_LABELS = BENCH / "answers_labels.json"
STYLES = BENCH / "styles"  # our own short notes in styles no shared corpus uses (labels: styles_labels.json)
PARAPHRASES = BENCH / "paraphrase_labels.json"  # answerable questions in other words than the notes'
TARGETS = {"owner": 0.85, "attendees": 0.95, "absent": 0.8, "false_declines": 0.05, "fact_hit1": 0.6}
AS_OF = date(2026, 1, 1)
NOTE_SUFFIXES = {".md", ".txt", ".vtt", ".srt"}

Labels = dict[str, Any]


@dataclass
class Tally:
    right: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ok: bool, what: str) -> None:
        self.total += 1
        self.right += ok
        if not ok:
            self.misses.append(what)

    def merge(self, other: Tally) -> None:
        self.right += other.right
        self.total += other.total

    @property
    def share(self) -> float:
        return self.right / self.total if self.total else 1.0

    def show(self) -> str:
        return f"{self.share:.2f} ({self.right}/{self.total})" if self.total else "-"


@dataclass(frozen=True)
class Corpus:
    name: str
    paths: list[Path]
    labels: Labels


def _source_of(path: str) -> str:
    """`…/corpora/solid-cg/2023-08-02.md` → `solid-cg/2023-08-02.md`, `bench/styles/x.md` →
    `styles/x.md`, samples → `examples/notes/…`."""
    p = Path(path).resolve()
    for root in (CORPORA, BENCH, ROOT):
        if p.is_relative_to(root.resolve()):
            return p.relative_to(root.resolve()).as_posix()
    return "/".join(p.parts[-3:])


def _rust_source(source: str) -> str:
    return source if source.startswith("examples/") else f"rust-lang-team/{source}"


def corpora() -> list[Corpus]:
    """Every labelled corpus: the Rust labels (with the samples' split off) and the shared ones."""
    rust = json.loads(RUST_LABELS.read_text())

    def split(sample: bool) -> Labels:
        def keep(lab: dict[str, Any]) -> bool:
            sources = [lab["source"]] if "source" in lab else lab["sources"]
            return any(s.startswith("examples/") for s in sources) == sample

        out: Labels = {kind: [] for kind in ("owner", "fact", "decision")}
        for kind in out:
            for lab in rust[kind]:
                if keep(lab):
                    lab = dict(lab)
                    if "source" in lab:
                        lab["source"] = _rust_source(lab["source"])
                    if "sources" in lab:
                        lab["sources"] = [_rust_source(x) for x in lab["sources"]]
                    out[kind].append(lab)
        out["absent"] = [] if sample else rust["absent"]
        out["attendance"] = {} if sample else {_rust_source(k): v for k, v in rust["attendance"].items()}
        return out

    found = [Corpus("rust-lang-team", [CORPORA / "rust-lang-team" / "triage", CORPORA / "rust-lang-team" / "design"],
                    split(False))]  # fmt: skip
    for labels_file in sorted((CORPORA / "labels").glob("*.json")):
        found.append(Corpus(labels_file.stem, [CORPORA / labels_file.stem], json.loads(labels_file.read_text())))
    found.append(Corpus("styles", [STYLES], json.loads((BENCH / "styles_labels.json").read_text())))
    found.append(Corpus("samples", [SAMPLES], split(True)))
    paraphrases = json.loads(PARAPHRASES.read_text())
    for corpus in found:
        corpus.labels.setdefault("paraphrase", paraphrases.get(corpus.name, []))
    return found


def _files(paths: list[Path]) -> list[tuple[str, Path]]:
    out = []
    for root in paths:
        for f in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if f.is_file() and f.suffix.lower() in NOTE_SUFFIXES:
                out.append((_source_of(str(f)), f))
    return out


def _holds(source: str, line_start: int, line_end: int, lab: dict[str, Any]) -> bool:
    """The right file and, where the label says which line answers, that line in the passage."""
    if source not in lab["sources"]:
        return False
    line = lab.get("line")
    return line is None or line_start <= line <= line_end


def _names(owners: list[Owner], extra: list[str] | None = None) -> set[str]:
    names: set[str] = set(n.lower() for n in extra or [])
    for o in owners:
        names |= {o.name.lower(), o.written_as.lower().split(" (")[0], *(a.lower() for a in o.aliases)}
    return names


def _owner_right(answer: OwnerAnswer, lab: dict[str, Any]) -> bool:
    """The first owner named is the labelled person (by name, as written or an alias; @handles too)."""
    named = _names(answer.item.owners) if answer.item else set()
    return bool(named & {o.lower().lstrip("@") for o in lab["owners"]} | named & {o.lower() for o in lab["owners"]})


RETRIEVERS = ("product", "dense", "bm25")


def run(pool: ConnectionPool, embedder: Embedder, tenant: str, corpus: Corpus, verbose: bool) -> dict[str, Tally]:
    labels = corpus.labels
    t: dict[str, Tally] = {"owner": Tally(), "attendees": Tally(), "absent": Tally(), "false_declines": Tally()}
    for kind in ("fact", "decision"):
        for r in RETRIEVERS:
            t[f"{kind}1 {r}"], t[f"{kind}5 {r}"] = Tally(), Tally()
    for lab in labels["owner"]:
        answer = owner_of(pool, embedder, lab["q"], tenant=tenant)
        declined = answer.item is None
        ok = _owner_right(answer, lab)
        got = answer.item and (answer.item.owner_names, answer.item.text[:70], _source_of(answer.item.source))
        t["owner"].add(ok, f"{lab['q']!r}: got {got}, want {lab['owners'][:2]} at {lab['source']}")
        t["false_declines"].add(not declined, f"owner {lab['q']!r}")
    windows = load_windows(_files(corpus.paths))
    dense, bm25 = DenseWindows(embedder, windows), BM25Windows(windows)
    for kind in ("fact", "decision"):
        for lab in labels[kind]:
            result = search_notes(pool, embedder, lab["q"], tenant=tenant, as_of=AS_OF, k=5)
            ranked: dict[str, list[bool]] = {
                "product": [_holds(_source_of(h.source), h.line_start, h.line_end, lab) for h in result.hits],
                "dense": [_holds(w.source, w.line_start, w.line_end, lab) for w in dense.search(lab["q"])],
                "bm25": [_holds(w.source, w.line_start, w.line_end, lab) for w in bm25.search(lab["q"])],
            }
            for r, hits in ranked.items():
                got = [f"{_source_of(h.source)}:{h.line_start}-{h.line_end}" for h in result.hits[:3]]
                t[f"{kind}1 {r}"].add(bool(hits[:1]) and hits[0], f"{lab['q']!r}: got {got}, want {lab['sources']}"
                                      f"{':' + str(lab['line']) if 'line' in lab else ''}")  # fmt: skip
                t[f"{kind}5 {r}"].add(any(hits), f"{lab['q']!r}")
            t["false_declines"].add(bool(result.hits), f"{kind} {lab['q']!r}: {result.declined}")
    t["paraphrase5"] = Tally()
    for lab in labels["paraphrase"]:
        result = search_notes(pool, embedder, lab["q"], tenant=tenant, as_of=AS_OF, k=5)
        held = any(_holds(_source_of(h.source), h.line_start, h.line_end, lab) for h in result.hits)
        t["paraphrase5"].add(held, f"{lab['q']!r}: want {lab['sources']}:{lab['line']}")
        t["false_declines"].add(bool(result.hits), f"paraphrase {lab['q']!r}: {result.declined}")
    prices = PriceTable.load()
    for question in labels["absent"]:
        result = search_notes(pool, embedder, question, tenant=tenant, as_of=AS_OF, k=5)
        owner = owner_of(pool, embedder, question, tenant=tenant)
        answer = ask(pool, embedder, None, prices, question, options=AskOptions(tenant=tenant, as_of=AS_OF))
        said = {"search": not result.hits, "who-owns": owner.item is None, "ask": answer.mode == "not_in_notes"}
        t["absent"].add(all(said.values()), f"{question!r}: answered by {[k for k, v in said.items() if not v]}")
    with tenant_transaction(pool, tenant) as conn:
        for source, listed in labels["attendance"].items():
            rows = conn.execute(
                """SELECT p.name, p.aliases FROM meeting_attendees a JOIN people p ON p.id = a.person_id
                   JOIN meetings m ON m.id = a.meeting_id WHERE m.source LIKE %s""",
                (f"%/{source}",),
            ).fetchall()
            # a label's "@lidel" is the person whose handle is lidel: people are stored without the "@"
            known = {n.lower().lstrip("@") for name, aliases in rows for n in [name, *aliases]}
            for person in listed:
                stored = person.lower().lstrip("@") in known
                t["attendees"].add(stored, f"{source}: {person} (stored {sorted(known)})")
    if verbose:
        for name, tally in t.items():
            if name.endswith(("dense", "bm25")):
                continue
            for miss in tally.misses:
                print(f"miss [{corpus.name} {name}] {miss}")
    return t


def table(title: str, t: dict[str, Tally], ingest: str) -> list[str]:
    def search_row(kind: str, k: int) -> str:
        return "  ".join(f"{t[f'{kind}{k} {r}'].show():<14}" for r in RETRIEVERS)

    fd = t["false_declines"]
    rows = [
        ("notes ingested", ingest, ""),
        ("who-owns correct@1", t["owner"].show(), f">= {TARGETS['owner']}"),
        ("search hit@1 facts", search_row("fact", 1), f">= {TARGETS['fact_hit1']} (total)"),
        ("search hit@5 facts", search_row("fact", 5), ""),
        ("search hit@1 decisions", search_row("decision", 1), ""),
        ("search hit@5 decisions", search_row("decision", 5), ""),
        ("paraphrase hit@5", t["paraphrase5"].show(), ""),
        ("attendees parsed", t["attendees"].show(), f">= {TARGETS['attendees']}"),
        ("absent declined (all three)", t["absent"].show(), f">= {TARGETS['absent']} (total)"),
        ("false declines", f"{1 - fd.share:.2f} ({fd.total - fd.right}/{fd.total})",
         f"<= {TARGETS['false_declines']} (total)"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    out = [f"== {title}", f"{'measure':<{width}}  {'  '.join(f'{r:<14}' for r in RETRIEVERS)}  target"]
    out += [f"{measure:<{width}}  {value:<48}  {target}" for measure, value, target in rows]
    return out


def missed_targets(name: str, t: dict[str, Tally], *, total: bool) -> list[str]:
    missed = []
    if t["owner"].total and t["owner"].share < TARGETS["owner"]:
        missed.append(f"{name}: who-owns correct@1 {t['owner'].share:.2f}")
    if t["attendees"].total and t["attendees"].share < TARGETS["attendees"]:
        missed.append(f"{name}: attendees {t['attendees'].share:.2f}")
    if total:
        if t["absent"].share < TARGETS["absent"]:
            missed.append(f"{name}: absent declined {t['absent'].share:.2f}")
        if 1 - t["false_declines"].share > TARGETS["false_declines"]:
            missed.append(f"{name}: false declines {1 - t['false_declines'].share:.2f}")
        if t["fact1 product"].share < TARGETS["fact_hit1"]:
            missed.append(f"{name}: fact hit@1 {t['fact1 product'].share:.2f}")
    return missed


# --- leave-one-corpus-out (bench/knobs.py): question-time knobs, one ingest per corpus serves every value ---

LOCO_TARGET = 0.80  # who-owns correct@1 on each held-out corpus


def question_tallies(
    pool: ConnectionPool, embedder: Embedder, tenant: str, labels: Labels, groups: frozenset[str]
) -> dict[str, Tally]:
    """The labelled questions of `groups` (knobs.GROUPS) asked again, no baselines: owner
    correct@1, search hit@1 (facts and decisions), absent declined by all three, and the
    answerable questions answered (not declined) by who-owns, search and ask: "<group> answered"."""
    t = {name: Tally() for name in ("owner", "owner answered", "search", "search answered", "absent", "ask answered")}
    if "owner" in groups:
        for lab in labels["owner"]:
            answer = owner_of(pool, embedder, lab["q"], tenant=tenant)
            t["owner"].add(_owner_right(answer, lab), lab["q"])
            t["owner answered"].add(answer.item is not None, lab["q"])
    answerable = [lab for kind in ("fact", "decision") for lab in labels[kind]]
    reworded = labels["paraphrase"]  # answerable too: declining them is a false decline
    if "search" in groups:
        for lab in answerable:
            result = search_notes(pool, embedder, lab["q"], tenant=tenant, as_of=AS_OF, k=5)
            first = result.hits[:1]
            t["search"].add(any(_holds(_source_of(h.source), h.line_start, h.line_end, lab) for h in first), lab["q"])
            t["search answered"].add(bool(result.hits), lab["q"])
        for lab in reworded:
            t["search answered"].add(
                bool(search_notes(pool, embedder, lab["q"], tenant=tenant, as_of=AS_OF).hits), lab["q"]
            )
    prices = PriceTable.load()

    def asked(question: str) -> bool:
        options = AskOptions(tenant=tenant, as_of=AS_OF, use_cache=False)
        return ask(pool, embedder, None, prices, question, options=options).mode != "not_in_notes"

    if "absent" in groups:
        for question in labels["absent"]:
            declined = (
                not search_notes(pool, embedder, question, tenant=tenant, as_of=AS_OF, k=5).hits
                and owner_of(pool, embedder, question, tenant=tenant).item is None
                and not asked(question)
            )  # the first to answer settles it
            t["absent"].add(declined, question)
    if "ask" in groups:
        for lab in [*labels["owner"], *answerable, *reworded]:
            t["ask answered"].add(asked(lab["q"]), lab["q"])
    return t


def loco_score(t: dict[str, Tally]) -> float:
    """One corpus's score for choosing a value: the shares right (who-owns, search hit@1, absent
    declined) minus the shares of answerable questions declined; shares, so each corpus weighs the same."""
    right = sum(tally.share for name, tally in t.items() if tally.total and not name.endswith(" answered"))
    return right - sum(1 - tally.share for name, tally in t.items() if tally.total and name.endswith(" answered"))


@dataclass(frozen=True)
class Tenant:
    name: str
    corpus: Corpus


def loco_report(
    pool: ConnectionPool, embedder: Embedder, tenants: list[Tenant], only: list[str] | None, verbose: bool = False
) -> tuple[list[str], list[str]]:
    """Every knob's values swept on every corpus; then each corpus held out in turn: its knobs
    chosen on the others, one at a time, and all of them set together for its who-owns correct@1.
    The printed lines and the missed targets."""
    started = time.perf_counter()
    chosen_knobs = [k for name in only for k in knobs.candidates_of(name)] if only else list(knobs.KNOBS)
    bound: list[knobs.Bound] = []
    lines: list[str] = []
    for knob in dict.fromkeys(chosen_knobs):
        found = knobs.bind(knob)
        if isinstance(found, str):
            lines.append(f"knob missing (left out): {found}")
        else:
            bound.append(found)
    every = frozenset(knobs.GROUPS)
    base = {t.corpus.name: question_tallies(pool, embedder, t.name, t.corpus.labels, every) for t in tenants}

    def restricted(t: dict[str, Tally], groups: frozenset[str]) -> dict[str, Tally]:
        return {name: tally for name, tally in t.items() if name.split()[0] in groups}

    sweep: dict[str, dict[str, dict[float, float]]] = {}
    for b in bound:
        scores: dict[str, dict[float, float]] = {c: {b.default: loco_score(restricted(base[c], b.knob.affects))}
                                                 for c in base}  # fmt: skip
        for value in b.values[1:]:
            with knobs.setting(b, value):
                for t in tenants:
                    tally = question_tallies(pool, embedder, t.name, t.corpus.labels, b.knob.affects)
                    scores[t.corpus.name][value] = loco_score(tally)
        sweep[b.knob.name] = scores
        if verbose:
            for c, by_value in scores.items():
                said = "  ".join(f"{v:g}: {score:.2f}" for v, score in by_value.items())
                lines.append(f"sweep [{b.knob.name} on {c}] {said}")
    names = [t.corpus.name for t in tenants]
    held = {b.knob.name: {h.corpus: h for h in knobs.loco(sweep[b.knob.name], b.default)} for b in bound}
    width = max([len(b.knob.name) for b in bound] + [4])
    cell = 18
    lines += [
        f"== leave-one-corpus-out ({len(names)} corpora, {len(bound)} knobs)",
        "each cell: the value chosen on the other corpora, then the held-out corpus's score with it",
        "(and with the current value, when they differ); score = who-owns@1 + search hit@1 + absent declined",
        "- declines, over the questions the knob moves. gain: summed held-out change.",
        f"{'knob':<{width}}  {'now':<6}" + "".join(f"{n[: cell - 1]:<{cell}}" for n in names) + f"{'gain':<7}verdict",
    ]
    for b in bound:
        row = held[b.knob.name]
        cells = []
        for n in names:
            h = row[n]
            text = f"{h.chosen:g} {h.score:.2f}" + (f" ({h.default_score:.2f})" if h.chosen != b.default else "")
            cells.append(f"{text:<{cell}}")
        gain = sum(h.score - h.default_score for h in row.values())
        verdict = knobs.verdict(sweep[b.knob.name], b.default)
        lines.append(f"{b.knob.name:<{width}}  {b.default:<6g}" + "".join(cells) + f"{gain:<+7.2f}{verdict}")
    # every knob at its held-out choice at once: the who-owns number the target is on
    missed = []
    lines += ["", f"{'held out':<16}{'who-owns@1 now':<18}{'under LOCO':<18}knobs moved (target >= {LOCO_TARGET})"]
    for t in tenants:
        if not t.corpus.labels["owner"]:
            continue
        moved = [(b, held[b.knob.name][t.corpus.name].chosen) for b in bound]
        moved = [(b, v) for b, v in moved if v != b.default]
        with contextlib.ExitStack() as stack:
            for b, v in moved:
                stack.enter_context(knobs.setting(b, v))
            owner = question_tallies(pool, embedder, t.name, t.corpus.labels, frozenset({"owner"}))["owner"]
        said = ", ".join(f"{b.knob.name}={v:g}" for b, v in moved) or "-"
        lines.append(f"{t.corpus.name:<16}{base[t.corpus.name]['owner'].show():<18}{owner.show():<18}{said}")
        if owner.share < LOCO_TARGET:
            missed.append(f"{t.corpus.name} held out: who-owns correct@1 {owner.share:.2f}")
    lines += ["", "not swept: " + "; ".join(f"{n} ({why})" for n, why in knobs.NOT_SWEPT)]
    lines += ["needs a name (inline in search/):", *(f"  {where}: {what}" for where, what in knobs.NEEDS_A_NAME)]
    lines.append(f"leave-one-corpus-out: {time.perf_counter() - started:.0f} s")
    return lines, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="Reuse this database instead of a fresh embedded server.")
    parser.add_argument("--tenant-prefix", help="Tenants are <prefix>-<corpus> (default: new ones).")
    parser.add_argument("--corpus", action="append", help="Run only this corpus (repeatable).")
    parser.add_argument("--verbose", "-v", action="store_true", help="Print every miss.")
    parser.add_argument("--no-loco", action="store_true", help="Skip the leave-one-corpus-out report.")
    parser.add_argument(
        "--loco-knobs", action="append", metavar="NAME", help="Sweep only knobs whose name has NAME (repeatable)."
    )
    args = parser.parse_args()
    chosen = [c for c in corpora() if not args.corpus or c.name in args.corpus]
    work = None
    url = args.database_url
    if url is None:
        work = Path(tempfile.mkdtemp(prefix="minutebook-answers-"))
        url = start_embedded(work / "pgdata")
    prefix = args.tenant_prefix or f"bench{uuid.uuid4().hex[:6]}"
    totals: dict[str, Tally] = {}
    missed: list[str] = []
    tenants: list[Tenant] = []
    loco_lines: list[str] = []
    try:
        migrate(url)
        pool = open_app_pool(url, min_size=1, max_size=4)
        embedder = Embedder()
        for corpus in chosen:
            tenant = f"{prefix}-{corpus.name}"
            started = time.perf_counter()
            report: IngestReport = ingest_paths(
                pool, embedder, [str(p) for p in corpus.paths], options=IngestOptions(tenant=tenant, today=AS_OF)
            )
            seconds = time.perf_counter() - started
            changed = report.count("new") + report.count("updated")
            failed = report.count("failed")
            ingest = f"{changed} new, {report.count('unchanged')} unchanged, {failed} failed, {seconds:.0f} s"
            t = run(pool, embedder, tenant, corpus, args.verbose)
            tenants.append(Tenant(tenant, corpus))
            print("\n".join([*table(corpus.name, t, ingest), ""]), flush=True)
            missed += missed_targets(corpus.name, t, total=False)
            for name, tally in t.items():
                totals.setdefault(name, Tally()).merge(tally)
        if not args.no_loco:
            loco_lines, loco_missed = loco_report(pool, embedder, tenants, args.loco_knobs, args.verbose)
            missed += loco_missed
        pool.close()
    finally:
        if work is not None:
            stop_embedded(work / "pgdata")
    print("\n".join(table(f"total ({len(chosen)} corpora)", totals, "")))
    if loco_lines:
        print("\n".join(["", *loco_lines]))
    missed += missed_targets("total", totals, total=True)
    for m in missed:
        print(f"target missed: {m}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
