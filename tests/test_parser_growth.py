"""Every parser is linear in its input (issue 23 item 2): on pathological input of size n and 4n,
its cost grows about 4×, never the 16× (or 64×) of the quadratic (cubic) code this replaced.

The cost is CPU time (`process_time`, the minimum of a few rounds, garbage collection off), and
only its ratio is checked, never seconds: one 43 kB action item of "Nov 15" took 22.8 s before.
A note too complex to parse fails by name, with nothing stored."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from conftest import FIXTURES, SAMPLES

from minutebook.core import dates
from minutebook.core.database import tenant_transaction
from minutebook.core.dates import ParseBudget, find_dates
from minutebook.core.embedder import Embedder
from minutebook.core.errors import IngestError
from minutebook.ingest.chunk import approx_tokens, chunk_note
from minutebook.ingest.extract import extract_items, take_due
from minutebook.ingest.parse import parse_note
from minutebook.ingest.pipeline import IngestOptions, ingest_notes
from minutebook.ingest.reader import NoteText
from minutebook.ingest.spoken import extract_spoken
from minutebook.ingest.transcript import Turn, merge_turns
from minutebook.search.timewords import parse_time_window

# Linear work grows 4× from n to 4n and quadratic work 16×; 10 leaves room for noise on a busy
# machine either way (each measured round lasts at least MIN_ROUND_SECONDS, see below).
MAX_GROWTH = 10.0
ROUNDS = 3
# A round repeats the call until it costs this much CPU at size n, so that timer resolution and
# per-call overhead do not decide the ratio; the same repeat count is used at 4n.
MIN_ROUND_SECONDS = 0.03
REF = date(2025, 11, 20)
REAL_NOTES = [
    *sorted(SAMPLES.iterdir()),
    *sorted(FIXTURES.rglob("*.md")),
    *sorted((Path(__file__).resolve().parent.parent / "bench" / "date_notes").glob("*.md")),
]


def _cpu(call: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(repeats):
            call()
        best = min(best, time.process_time() - started)
    return best


def growth(make: Callable[[int], Callable[[], object]], n: int) -> float:
    """cost(4n) / cost(n) for the call `make(size)` returns."""
    small, large = make(n), make(4 * n)
    small()  # warm caches (compiled regexes, imports) outside the measure
    repeats = 1
    gc.disable()
    try:
        while _cpu(small, repeats) < MIN_ROUND_SECONDS and repeats < 1 << 16:
            repeats *= 2
        return _cpu(large, repeats) / _cpu(small, repeats)
    finally:
        gc.enable()


def _note(text: str, name: str = "growth.md") -> Callable[[], object]:
    """Everything ingest does to a note's text short of embedding: parse, extract, chunk."""

    def run() -> object:
        parsed = parse_note(text, name, reference=REF)
        items = extract_spoken(parsed) if parsed.turns else extract_items(parsed)
        return items, chunk_note(parsed, approx_tokens)

    return run


def _vtt(*cues: str) -> str:
    return "WEBVTT\n\n" + "".join(
        f"00:{k // 60 % 60:02d}:{k % 60:02d}.000 --> 00:{k // 60 % 60:02d}:{k % 60:02d}.900\n{cue}\n\n"
        for k, cue in enumerate(cues)
    )


GROWING: dict[str, tuple[Callable[[int], Callable[[], object]], int]] = {
    # core/dates.py find_dates: each mention was checked against every one taken before it
    "find_dates, one line of 'Nov 15'": (lambda k: lambda: find_dates("Nov 15 " * k, REF), 1200),
    "find_dates, one line of ISO dates": (lambda k: lambda: find_dates("2025-11-15 " * k, REF), 1500),
    # ingest/extract.py take_due: the text before each date was searched again for "by"
    "take_due, a 'by' after many dates": (
        lambda k: lambda: take_due("fix " + "Nov 15 " * k + "by Nov 16", REF, any_date=True),
        600,
    ),
    "take_due, 'Nov 15' repeated": (lambda k: lambda: take_due("fix it " + "Nov 15 " * k, REF, any_date=True), 150),
    # item extraction: one action item holding thousands of dates (22.8 s for 43 kB before)
    "action item of dates": (
        lambda k: _note("# Sync 2025-11-01\n\n## Action Items\n- [ ] Sam to fix " + "Nov 15 " * k),
        300,
    ),
    "action item with a long run of spaces": (lambda k: _note("# M\n\n- [ ] a" + " " * k + "b by Nov 15\n"), 1500),
    "key fields after a run of spaces": (lambda k: _note("# M\n\n## Action Items\n- a" + "  " * k + "b\n"), 1500),
    # meeting-date detection (_meeting_date): the title, a Date: line and the header
    "meeting date in a title of dates": (lambda k: _note("# " + "Nov 15 2025 " * k + "\ntext\n"), 1000),
    "meeting date in a Date: line": (lambda k: _note("Date: " + "Nov 15 2025 " * k + "\n# T\n"), 1000),
    # markdown parse
    "a blank run inside a label's list": (lambda k: _note("# M\n\nNext steps:\n- a\n" + "\n" * k + "- b\n"), 2000),
    "indented attendance labels": (lambda k: _note("# M\n\n" + "  Attendees:\n" * k), 400),
    "a banner line of stars": (lambda k: lambda: parse_note("# M\n\n" + "*" * k + "x\n", "m.md"), 400),
    "thousands of headings": (
        lambda k: _note("# M\n\n" + "".join(f"## Topic {i} Nov {i % 28 + 1}\nx\n" for i in range(k))),
        300,
    ),
    "deeply nested bullets": (
        lambda k: _note("# M\n\n## Action Items\n" + "".join("  " * (i % 60) + f"- item {i}:\n" for i in range(k))),
        300,
    ),
    "a table with thousands of columns": (
        lambda k: _note(
            "# M\n\n## Actions\n| Task | Owner | Due |"
            + " c |" * k
            + "\n|"
            + "---|" * (k + 3)
            + "\n| Do it | Sam | Nov 15 |"
            + " x |" * k
            + "\n"
        ),
        1000,
    ),
    # the note grammar's commitments and links (117 s for 8,000 handovers, 0.8 s for 8,000 "[" before)
    "a line of handovers": (lambda k: _note("# M\n\n## Notes\n- Ann: " + "pass on x to y and " * k + "\n"), 500),
    "a line of unclosed brackets": (lambda k: _note("# M\n\n## Actions\n- x " + "[" * k + "\n"), 4000),
    "a line of unclosed links": (lambda k: _note("# M\n\nAttendees: " + "[a](" * k + "\n"), 2000),
    "a speaker's line of undertakings ending in a question": (
        lambda k: _note("# M\n\n## Notes\n- PAC: " + "I will. " * k + "ok?\n"),
        2000,
    ),
    "one line of @names": (lambda k: _note("# M\n\n- @" + ", @".join(f"n{i}" for i in range(k)) + ": do it\n"), 1000),
    "one line of list markers": (lambda k: _note("# M\n\n" + "- " * k + "x\n"), 2000),
    "attendees joined by 'and'": (lambda k: _note("# M\n\nAttendees: " + " and ".join(["Ann"] * k) + "\n"), 4000),
    "an owner after a run of spaces": (
        lambda k: _note("# M\n\n## Action Items\n- task - Sam" + " " * k + "(lead)\n"),
        1500,
    ),
    # transcripts: spoken commitments, cue merging, tags
    "a VTT cue of 'Nov 15' (spoken due date)": (
        lambda k: _note(_vtt("<v Sam>I'll send the report by " + "Nov 15 " * k), "c.vtt"),
        600,
    ),
    "a VTT of one speaker's cues": (lambda k: _note(_vtt(*["<v Sam>" + "word " * 60 + "end."] * k), "s.vtt"), 300),
    "merging one speaker's cues into a turn": (
        lambda k: lambda: merge_turns([Turn("Sam", float(c), c + 0.5, "word " * 400, c, c) for c in range(k)]),
        500,
    ),
    "unclosed voice tags": (lambda k: _note(_vtt("<v a " * k + "said"), "v.vtt"), 1500),
    "a spoken task ending in dashes": (lambda k: _note(_vtt("Sam: I'll send " + "- " * k + "x"), "d.vtt"), 1500),
    # chunking and time words
    "chunking a long monologue": (
        lambda k: lambda: chunk_note(parse_note(_vtt("<v Sam>" + "We ship it. " * k), "m.vtt"), approx_tokens),
        800,
    ),
    "chunking a long section": (
        lambda k: lambda: chunk_note(parse_note("# M\n\n" + "Words here. " * k), approx_tokens),
        800,
    ),
    "time words in a long question": (lambda k: lambda: parse_time_window("what " * k + "since Nov 15", REF), 2000),
}


@pytest.mark.parametrize("case", list(GROWING))
def test_parsers_grow_linearly(case: str) -> None:
    make, n = GROWING[case]
    ratio = growth(make, n)
    assert ratio < MAX_GROWTH, f"{case}: 4× the input cost {ratio:.1f}× the time (linear is ~4, quadratic ~16)"


def test_a_line_yields_at_most_the_capped_number_of_dates() -> None:
    line = "Nov 15 " * (dates.MAX_DATES_PER_TEXT * 3)
    found = find_dates(line, REF)
    assert len(found) == dates.MAX_DATES_PER_TEXT
    assert [m.span[0] for m in found] == [7 * i for i in range(dates.MAX_DATES_PER_TEXT)]  # the first ones


def test_take_due_still_cuts_the_by_phrase_before_the_date() -> None:
    """The bounded look-back finds what the search of the whole prefix found."""
    assert take_due("Ship it, by Nov 15 (stretch)", REF, any_date=False)[0] == "Ship it (stretch)"
    assert take_due("Nov 14 review; due by: Nov 15", REF, any_date=False)[0] == "Nov 14 review"
    assert take_due("Nov 15by Nov 16", REF, any_date=False)[1] is None  # "by" glued to a date is no word


def test_a_note_past_its_date_budget_fails_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dates, "MAX_DATE_MATCHES_PER_NOTE", 500)
    text = "# Sync 2025-11-01\n\n## Action Items\n" + "".join(f"- Item {i} by Nov 15\n" for i in range(600))
    with pytest.raises(IngestError, match=r"^dump\.md: too complex to parse: more than 500 date mentions"):
        extract_items(parse_note(text, "dump.md"))


def test_a_budget_also_bounds_the_text_read() -> None:
    budget = ParseBudget("loop.md", 1_000)
    budget.charge(matches=0, scanned=dates.DATE_SCAN_FACTOR * 1_000)
    with pytest.raises(IngestError, match=r"^loop\.md: too complex to parse"):
        budget.charge(matches=0, scanned=dates.DATE_SCAN_SLACK + 1)


@pytest.mark.parametrize("path", REAL_NOTES, ids=lambda p: p.name)
def test_real_notes_stay_far_inside_the_budget(path: Path) -> None:
    """The limits are far above what real notes cost for their size, even grown to the 5 MB maximum
    (a short note's header, read by several rules, says little about its rate: only the body's)."""
    text = path.read_text()
    note = parse_note(text, path.name)
    extract_spoken(note) if note.turns else extract_items(note)
    assert note.budget is not None
    if len(text) >= 4096:
        grown = note.budget.matches * IngestOptions.max_note_bytes / len(text)
        assert grown < dates.MAX_DATE_MATCHES_PER_NOTE / 4
    assert note.budget.scanned < dates.DATE_SCAN_FACTOR / 4 * len(text) + dates.DATE_SCAN_SLACK


def test_a_note_too_complex_to_parse_is_not_stored(
    pool, embedder: Embedder, options: IngestOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dates, "MAX_DATE_MATCHES_PER_NOTE", 100)  # the real limit takes a 2 MB note to pass
    dump = "# Dates 2025-11-01\n\n" + "- [ ] Sam to fix it by Nov 15\n" * 101
    notes = [
        NoteText("dump.md", "dump.md", dump, "utf-8"),
        NoteText("fine.md", "fine.md", "# Sync 2025-11-01\n\n- Sam to ship the fix by Nov 15\n", "utf-8"),
    ]
    outcomes = {o.source: o for o in ingest_notes(pool, embedder, notes, options=options)}
    assert outcomes["dump.md"].status == "failed"
    assert (outcomes["dump.md"].error or "").startswith("dump.md: too complex to parse: more than")
    assert outcomes["fine.md"].status == "new"
    with tenant_transaction(pool, options.tenant) as conn:
        sources = [r[0] for r in conn.execute("SELECT source FROM meetings WHERE tenant_id = %s", (options.tenant,))]
    assert sources == ["fine.md"]
