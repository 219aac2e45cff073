from datetime import date

from conftest import Q4_NOTE, TPM_NOTE

from minutebook.ingest.parse import Attendee, parse_note


def paths(note) -> list[str]:
    return [" › ".join(s.path) for s in note.sections]


def test_markdown_weekly_status_sample() -> None:
    note = parse_note(TPM_NOTE.read_text(), TPM_NOTE.name)
    assert note.title == "Weekly TPM Status Meeting - Week of Oct 21-25, 2025"
    assert (note.date_start, note.date_end) == (date(2025, 10, 21), date(2025, 10, 25))
    assert note.attendees == []
    got = paths(note)
    assert got[0] == "Monday Stand-up (Oct 21)"
    assert "Engineering Deep Dive (Oct 23) › SSO Integration Status" in got
    assert "Risk Review (Oct 24) › Infrastructure Costs" in got
    assert "Risk Review (Oct 24) › Third-party API Rate Limits" in got
    assert "Action Items & Owners" in got
    assert got[-1] == "Next Week Priorities"
    by_path = {" › ".join(s.path): s for s in note.sections}
    assert by_path["Monday Stand-up (Oct 21)"].date == date(2025, 10, 21)
    assert by_path["Product Planning Session (Oct 22)"].date == date(2025, 10, 22)
    assert by_path["Risk Review (Oct 24) › Talent/Capacity"].date == date(2025, 10, 24)
    assert by_path["Stakeholder Sync (Oct 25) › Sales Team"].date == date(2025, 10, 25)


def test_plain_text_planning_sample() -> None:
    note = parse_note(Q4_NOTE.read_text(), Q4_NOTE.name)
    assert note.title == "Q4 2024 Planning Meeting"
    assert note.date_start == date(2024, 11, 15)
    assert [a.name for a in note.attendees] == ["Sarah Chen", "Mike Rodriguez", "Alice Park", "David Kim"]
    got = paths(note)
    assert "AGENDA" in got
    assert "NOTES › Q4 GOALS" in got
    assert "NOTES › TECHNICAL PRIORITIES › Database Migration (Week 1-2)" in got
    assert "NOTES › RISKS AND BLOCKERS › LLM API cost overruns" in got
    assert "NOTES › ACTION ITEMS" in got
    assert "NOTES › DECISIONS" in got
    # the header (date, attendees, location) is kept as text but is not a titled section
    assert got[0] == ""
    assert "Location: Conference Room B / Zoom Hybrid" in [ln.text for ln in note.sections[0].lines]


def test_other_styles_setext_headings_attendee_list_and_roles() -> None:
    text = """Platform sync
=============

Present:
- Priya Nair (Platform Lead)
- Tom O'Brien - SRE
- @jules

Decisions
---------
We ship the new ingress on Mar 4.

Follow-ups
----------
* Tom to rotate the certs by March 10
"""
    note = parse_note(text, "2024-03-01 platform-sync.md")
    assert note.title == "Platform sync"
    assert note.date_start == date(2024, 3, 1)  # only the file name carries the date
    assert note.attendees == [
        Attendee("Priya Nair", "Platform Lead"),
        Attendee("Tom O'Brien", "SRE"),
        Attendee("jules"),
    ]
    assert "Decisions" in paths(note)
    assert "Follow-ups" in paths(note)


def test_note_without_headings_is_one_untitled_section() -> None:
    note = parse_note("just a line about the budget\nand another one\n", "scratch.txt")
    assert note.title == "just a line about the budget"
    assert len(note.sections) == 1
    assert note.date_start is None


def test_attendees_inline_with_semicolons_and_and() -> None:
    note = parse_note("Sync\nParticipants: Ana Lopez (PM); Ben Wu and Chloe Kim\n\nbody text", "x.txt")
    assert [(a.name, a.role) for a in note.attendees] == [
        ("Ana Lopez", "PM"),
        ("Ben Wu", None),
        ("Chloe Kim", None),
    ]
