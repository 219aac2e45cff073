from datetime import date

from conftest import Q4_NOTE, TPM_NOTE

from minutebook.core.dates import find_dates
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
        Attendee("jules", handle="jules"),
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


def test_front_matter_gives_title_and_date_and_is_not_a_section() -> None:
    note = parse_note("---\ntitle: Platform steering\ndate: 2022-11-07\n---\n\n## Updates\n- shipped\n", "steer.md")
    assert (note.title, note.date_start, note.date_source) == ("Platform steering", date(2022, 11, 7), "front matter")
    assert all("---" not in ln.text for s in note.sections for ln in s.lines)
    tags_only = parse_note("---\ntags: design-meeting\n---\n\n# 2021-02-24: Lints\n\n## Agenda\n- x\n", "d.md")
    assert tags_only.title == "2021-02-24: Lints" and tags_only.date_start == date(2021, 2, 24)


def test_title_skips_comments_tables_of_contents_and_agenda_links() -> None:
    doctoc = (
        "<!-- START doctoc generated TOC please keep comment here -->\n**Table of Contents**\n\n"
        "- [Storage WG](#storage-wg)\n<!-- END doctoc -->\n\n# Storage WG\n\n## Notes\n- x\n"
    )
    assert parse_note(doctoc, "storage.md").title == "Storage WG"
    agenda = "Agenda: https://example.org/agenda\n\n# Release sync, 20 March 2018\n\n## Status\n- fine\n"
    note = parse_note(agenda, "release.md")
    assert (note.title, note.date_start) == ("Release sync, 20 March 2018", date(2018, 3, 20))


def test_a_month_dated_meeting_keeps_its_precision_and_sections_their_own_days() -> None:
    text = "# HTTP WG Minutes: October 2022\n\n## Discussion\n- caching\n\n## Wednesday 12 October 2022\n- more\n"
    note = parse_note(text, "http-wg-minutes.md")
    assert (note.date_start, note.date_end, note.date_precision) == (date(2022, 10, 1), date(2022, 10, 31), "month")
    by_path = {" › ".join(s.path): s for s in note.sections}
    assert (by_path["Discussion"].date, by_path["Discussion"].date_end) == (date(2022, 10, 1), date(2022, 10, 31))
    assert by_path["Wednesday 12 October 2022"].date == date(2022, 10, 12)
    # a file name naming the one day inside the month narrows it
    dated = parse_note("# HTTP WG Minutes: October 2022\n\n- x\n", "2022-10-12-http-wg.md")
    assert (dated.date_start, dated.date_precision) == (date(2022, 10, 12), "day")


def test_the_title_outranks_a_date_mentioned_in_the_header() -> None:
    note = parse_note("# Sync 2022-02-01\n\nFollow-up on the 2022-01-15 incident.\n\n## Notes\n- x\n", "s.md")
    assert (note.date_start, note.date_source) == (date(2022, 2, 1), "title")


def test_a_note_naming_only_an_event_is_undated_and_says_so() -> None:
    for title in ("IETF 114", "Sprint 42 retro", "Q3 offsite"):
        note = parse_note(f"# {title}\n\n## Notes\n- The 2019 outage still shapes alerting.\n", "event.md")
        assert note.date_start is None and note.date_precision is None, title
        assert any("no meeting date" in w and "set-date" in w for w in note.warnings)


def test_an_ambiguous_numeric_date_follows_the_tenant_or_is_flagged() -> None:
    text = "# Meeting 04/05/2021\n\n## Items\n- x\n"
    flagged = parse_note(text, "m.md")
    assert flagged.date_start == date(2021, 4, 5) and any("both day/month orders" in w for w in flagged.warnings)
    told = parse_note(text, "m.md", numeric_order="dmy")
    assert told.date_start == date(2021, 5, 4) and not told.warnings


def test_a_given_date_wins_over_the_note() -> None:
    given = find_dates("2022-11-07")[0]
    note = parse_note("# Sync 2022-02-01\n\n## Notes\n- x\n", "s.md", given=given)
    assert (note.date_start, note.date_source) == (date(2022, 11, 7), "given")
    assert all(s.date == date(2022, 11, 7) for s in note.sections)
