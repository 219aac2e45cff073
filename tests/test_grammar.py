"""Reading notes in conventions nobody here chose: attendance in its common shapes, commitments and
decisions by their grammar, an item's agenda context, template lines. No database needed."""

from __future__ import annotations

from datetime import date

import pytest

from minutebook.ingest.boilerplate import line_fingerprint, template_threshold
from minutebook.ingest.commitments import find_commitment, is_decision
from minutebook.ingest.extract import extract_items
from minutebook.ingest.parse import parse_note
from minutebook.search.timewords import parse_time_window

STEERING = """# Steering committee

## Attendees
* Jane Q. Doe @jqdoe (voting member)
* Bob Li - Acme Corp
* Team members: nikomatsakis, Taylor
* Others: Gary Guo (nbdd0121), y86-dev, pnkfelix (30min late)
* @example-org/infra-team
* see the recording for everyone else!!

Regrets: Tom O'Brien

## Agenda
- "Stabilize the frobnicator" [proj#181](https://example.org/proj/issues/181)
    - Concerns about the frobnicator ABI were raised again.
    - nikomatsakis to write the stabilization report
    - Taylor volunteered to open the vote issue
    - not likely be used?
- Release process
    - Next step - Jane will draft the checklist by 2024-05-03
    - Bob: I can PR the fix
    - We agreed that we will not ship a beta this month.
    - Consensus is to keep the old flag for a year.
"""


def test_attendance_in_the_shapes_people_write_it() -> None:
    note = parse_note(STEERING, "2024-04-26-steering.md")
    by_name = {a.name: a for a in note.attendees}
    assert set(by_name) == {
        "Jane Q. Doe", "Bob Li", "nikomatsakis", "Taylor", "Gary Guo", "y86-dev", "pnkfelix", "example-org/infra-team",
    }  # fmt: skip
    assert (by_name["Jane Q. Doe"].handle, by_name["Jane Q. Doe"].role) == ("jqdoe", "voting member")
    assert by_name["Bob Li"].role == "Acme Corp"
    assert by_name["Gary Guo"].handle == "nbdd0121" and by_name["pnkfelix"].role is None  # "30min late" is a note
    assert by_name["example-org/infra-team"].kind == "team"
    assert by_name["nikomatsakis"].group == "team members"
    assert "Tom O'Brien" not in by_name  # regrets are not attendance
    assert any("see the recording" in w for w in note.warnings)  # reported, not silently dropped


@pytest.mark.parametrize(
    ("line", "owners", "task"),
    [
        ("Niko to leave a comment", ["Niko"], "leave a comment"),
        ("boats to write comment on 64882", ["boats"], "write comment on 64882"),
        ("Priya will write the runbook", ["Priya"], "write the runbook"),
        ("Mara volunteered to take over that role from Kim", ["Mara"], "take over that role from Kim"),
        ("pnkfelix: I'll be there", ["pnkfelix"], "be there"),
        ("Josh, I'm planning to do it", ["Josh"], "do it"),
        ("Ana: take the action of writing the summary", ["Ana"], "writing the summary"),
        ("Next step - Jun will file the issue", ["Jun"], "file the issue"),
        ("We reviewed it, and Ana volunteered to review the draft", ["Ana"], "review the draft"),
        ("Kenji, you own the implementation", ["Kenji"], "the implementation"),
        ("Identity team owns it; Lena is the DRI", ["Lena"], "Identity team owns it"),
        ("Needs a reviewer (assigned to scottmcm)", ["scottmcm"], "Needs a reviewer"),
        ("Niko and Josh to talk to oli-obk", ["Niko", "Josh"], "talk to oli-obk"),
    ],
)
def test_commitments_by_grammar(line: str, owners: list[str], task: str) -> None:
    found = find_commitment(line, {"boats", "pnkfelix", "jun", "ana", "kim"})
    assert found is not None, line
    assert (found.owners, found.task) == (owners, task)


@pytest.mark.parametrize(
    "line",
    [
        "Going to look for liaisons not in lang team",
        "Plan to do a transition for the pattern meaning",
        "items to discuss this meeting:",
        "move to postpone?",
        "Rust will need a spec eventually",
        "The spec will be ready soon",
        "nikomatsakis: maybe ping Wesley",
    ],
)
def test_observations_and_questions_are_not_commitments(line: str) -> None:
    assert find_commitment(line, {"nikomatsakis"}) is None


def test_decisions_by_grammar() -> None:
    for line in (
        "We agreed that we will not do X",
        "agreement is to use postgres",
        "Consensus is to wait a release",
        "Felix: Yes we agreed on adding explicit support for let else",
        "niko: we decided not to do this in the current edition.",
    ):
        assert is_decision(line), line
    assert not is_decision("Do we agree?") and not is_decision("we need to decide soon")


def test_items_keep_their_agenda_context_and_drop_questions() -> None:
    note = parse_note(STEERING, "2024-04-26-steering.md")
    items = {i.text: i for i in extract_items(note)}
    vote = items["open the vote issue"]
    assert [o.name for o in vote.owners] == ["Taylor"]
    assert "Stabilize the frobnicator" in vote.context and "proj#181" in vote.context
    assert "Stabilize the frobnicator" in vote.embed_text  # a terse item is embedded with its topic
    assert [o.name for o in items["write the stabilization report"].owners] == ["nikomatsakis"]
    checklist = items["draft the checklist"]
    assert [o.name for o in checklist.owners] == ["Jane"] and checklist.due_date == date(2024, 5, 3)
    assert [o.name for o in items["PR the fix"].owners] == ["Bob"]
    decisions = [i.text for i in items.values() if i.kind == "decision"]
    assert any("not ship a beta" in d for d in decisions) and any("old flag" in d for d in decisions)
    assert not any("likely be used" in t for t in items)


def test_template_lines_are_told_apart_from_words() -> None:
    # markers, checkbox state, numbers and case vary in a template; what it says does not
    assert line_fingerprint("* [x] Update the project board") == line_fingerprint("- [ ] update the project board")
    assert line_fingerprint("Triage meeting 2022-03-01") == line_fingerprint("Triage meeting 2022-11-15")
    assert line_fingerprint("Niko to write the report") != line_fingerprint("Josh to write the report")
    assert line_fingerprint("- ok") is None
    assert template_threshold(3) == 4 and template_threshold(170) == 17


def test_parts_of_a_month_are_a_window() -> None:
    window = parse_time_window("what did we decide at the end of May 2025?", date(2026, 1, 1))
    assert window is not None and (window.start, window.end) == (date(2025, 5, 21), date(2025, 5, 31))
    early = parse_time_window("early 2024 planning", date(2026, 1, 1))
    assert early is not None and (early.start, early.end) == (date(2024, 1, 1), date(2024, 4, 30))
