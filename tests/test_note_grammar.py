"""The note grammar's tables, walked through every reader: each list marker, item label, field label,
heading word and attendance label is accepted by parse, extract, attendance and boilerplate alike.
And the shapes issue 24 found losing their owner. No database needed."""

from __future__ import annotations

import re

import pytest

from minutebook.ingest.attendance import parse_line
from minutebook.ingest.boilerplate import line_fingerprint
from minutebook.ingest.extract import ExtractedItem, extract_items
from minutebook.ingest.grammar.notes import (
    ACTION_LABEL_WORDS,
    BULLETS,
    FIELD_LABELS,
    PLAN_HEADINGS,
    PRESENT_WORDS,
    SECTION_WORDS,
    is_list_item,
)
from minutebook.ingest.parse import parse_note


def _items(text: str) -> list[ExtractedItem]:
    return extract_items(parse_note(text, "2026-02-01-sync.md"))


def _owners(item: ExtractedItem) -> list[str]:
    return [o.name for o in item.owners]


def _spelled(pattern: str) -> str:
    """One way of writing a table entry's regex ("action items?" → "action items")."""
    return re.sub(r"\[([^\]])[^\]]*\]\??", r"\1", pattern).replace("?", "").replace("\\", "")


@pytest.mark.parametrize("bullet", list(BULLETS))
def test_every_bullet_is_a_list_marker_to_every_reader(bullet: str) -> None:
    line = f"{bullet} Dana Ortiz to renew the staging certificate by Feb 19"
    assert is_list_item(line)
    items = _items(f"# Sync 2026-02-01\n\n## Actions\n{line}\n")
    assert [(_owners(i), i.text) for i in items] == [(["Dana Ortiz"], "renew the staging certificate")]
    people, unread, _ = parse_line(f"{bullet} Dana Ortiz")
    assert [p.name for p in people] == ["Dana Ortiz"] and not unread
    assert line_fingerprint(line) == line_fingerprint("- Dana Ortiz to renew the staging certificate by Feb 19")


@pytest.mark.parametrize("word", ACTION_LABEL_WORDS)
@pytest.mark.parametrize(
    "shape", ["{w}: Dana to {t}", "**{w}:** Dana to {t}", "{w} 4.2: Dana to {t}", "[{w}-3] Dana to {t}"]
)
def test_every_item_label_is_stripped_and_its_owner_kept(word: str, shape: str) -> None:
    label = _spelled(word).upper() if word.startswith(("ai", "ar")) else _spelled(word).capitalize()
    line = shape.format(w=label, t="file the renewal ticket")
    items = _items(f"# Sync 2026-02-01\n\n## Discussion\n- {line}\n")
    assert [(_owners(i), i.text) for i in items] == [(["Dana"], "file the renewal ticket")], line


@pytest.mark.parametrize("label", [k for k, v in FIELD_LABELS.items() if v == "owner"])
def test_every_owner_field_names_the_owner_inline(label: str) -> None:
    line = f"1. Alert when a cert is within 14 days of expiry. {label.title()}: Hamid Rahimi. Due: Feb 19"
    items = _items(f"# Incident review 2026-02-10\n\n## Remediation\n{line}\n")
    assert len(items) == 1
    assert _owners(items[0]) == ["Hamid Rahimi"]
    assert items[0].text == "Alert when a cert is within 14 days of expiry"
    assert items[0].due_date is not None and items[0].due_date.isoformat() == "2026-02-19"


@pytest.mark.parametrize("heading", [_spelled(w) for w in SECTION_WORDS["action"]] + sorted(PLAN_HEADINGS))
def test_every_action_heading_word_makes_its_entries_actions(heading: str) -> None:
    items = _items(f"# Sync 2026-02-01\n\n## {heading.title()}\n- Lee — ask the data team to take over the export\n")
    assert [(i.kind, _owners(i)) for i in items] == [("action", ["Lee"])], heading


@pytest.mark.parametrize("word", [_spelled(w) for w in PRESENT_WORDS])
def test_every_attendance_label_reads_its_people(word: str) -> None:
    inline = parse_note(f"# Sync 2026-02-01\n**{word.title()}:** Dana Ortiz, Lee Park\n\nNotes.\n", "x.md")
    listed = parse_note(
        f"# Sync 2026-02-01\n\n- **{word.title()}:**\n    - _@dana_\n    - Lee Park\n\nNotes.\n", "x.md"
    )
    assert [a.name for a in inline.attendees] == ["Dana Ortiz", "Lee Park"], word
    assert [a.name for a in listed.attendees] == ["dana", "Lee Park"], word


def test_a_roll_call_counts_ticked_boxes_and_drops_affiliations() -> None:
    note = parse_note(
        "# TAC 2026-02-01\n\n## Voting member attendance\n"
        "* [x] Daniel Heckenberg - Chairperson, Animal Logic Pty Ltd\n"
        "* [x] Gordon Bradley, Autodesk\n"
        "* [ ] Mark McGuire, Blue Sky Studios, Inc.\n"
        "* [x] Jeff Bradley for Bill Ballew, DreamWorks\n\n"
        "## Apologies\n* Ken Museth\n\n## Other Attendees\n* Emily Olin (Linux Foundation)\n\n## Agenda\n- x\n",
        "x.md",
    )
    assert [a.name for a in note.attendees] == ["Daniel Heckenberg", "Gordon Bradley", "Jeff Bradley", "Emily Olin"]


@pytest.mark.parametrize(
    ("heading", "line", "owners", "text"),
    [
        ("Actions", "→ Dana owns the flaky-test quarantine job, aiming for Feb 13", ["Dana"],
         "the flaky-test quarantine job, aiming"),
        ("Actions", "→ Marcus drafts the review-rotation proposal before Feb 6", ["Marcus"],
         "the review-rotation proposal"),
        ("Actions", "→ Cert expiry dashboard [@kofi]", ["Kofi"], "Cert expiry dashboard"),
        ("Actions", "→ Write up the pairing practice (Rosa)", ["Rosa"], "Write up the pairing practice"),
        ("Minutes", "**ACTION 12.3:** Dana Ortiz to track the ingress controller release.", ["Dana Ortiz"],
         "track the ingress controller release"),
        ("Minutes", "**7.2**: Ines to add ownership fields to every catalog entry by March 2.", ["Ines"],
         "add ownership fields to every catalog entry"),
        ("Actions", "4.1 | Omar will renew the support contract", ["Omar"], "renew the support contract"),
        ("Remediation", "3. Audit every hand-issued certificate across environments — Sofia", ["Sofia"],
         "Audit every hand-issued certificate across environments"),
        ("Remediation", "4. Sofia Brandt is the DRI for staging infrastructure from now on.", ["Sofia Brandt"],
         "staging infrastructure from now"),
        ("Follow-ups", "Noor Haddad and Lee Park to interview two merchants", ["Noor Haddad", "Lee Park"],
         "interview two merchants"),
        ("Next steps", "Dana, Lee: update the runbook", ["Dana", "Lee"], "update the runbook"),
    ],
)  # fmt: skip
def test_owners_in_the_shapes_people_write_them(heading: str, line: str, owners: list[str], text: str) -> None:
    items = _items(f"# Retro 2026-01-30\n\n## {heading}\n{line}\n")
    assert [(_owners(i), i.text) for i in items] == [(owners, text)]


def test_a_standup_persons_next_list_is_theirs() -> None:
    items = _items(
        "# Weekly sync 2019-01-16\n\n**Team Updates**\n\n@terichadbourne\n\n-   Done:\n    -   Launched the site\n"
        "-   Next :\n    -   Build a tutorial on the file API.\n\n- @alanshaw\n    - Next:\n"
        "        - Finish the peer location bundle\n"
    )
    assert [(_owners(i), i.text) for i in items] == [
        (["terichadbourne"], "Build a tutorial on the file API"),
        (["alanshaw"], "Finish the peer location bundle"),
    ]


def test_a_named_person_not_read_as_owner_is_owner_unclear_not_unassigned() -> None:
    items = _items(
        "# Sync 2026-02-01\nAttendees: Dana Ortiz, Lee Park\n\n## Actions\n"
        "- Fix the flaky deploy step, Dana mentioned it last week\n- Review the vendor contract\n"
    )
    assert [(_owners(i), i.mentioned) for i in items] == [([], ["Dana"]), ([], [])]


def test_a_volunteer_owns_the_work_that_was_asked_for() -> None:
    items = _items(
        "# CG 2023-09-06\n\n## TPAC\n* SC: Does anyone want to volunteer to coordinate the group in person?\n"
        "* LD: I volunteer, I will be there in person.\n"
    )
    assert [(_owners(i), i.text, i.detail) for i in items] == [
        (["LD"], "coordinate the group in person", "I will be there in person")
    ]


def test_a_speaker_who_undertakes_in_a_later_sentence_owns_it_even_when_the_line_ends_asking() -> None:
    items = _items(
        "# CG 2024-01-31\n\n## WG Charter Update\n* PAC: Ultimately, this is the team proposing the charter. "
        "I am happy to take the lead and submit a new version. Is that ok, SC?\n* SC: Can we meet on Friday?\n"
    )
    assert [(_owners(i), i.text) for i in items] == [(["PAC"], "take the lead and submit a new version")]


def test_a_roll_call_is_not_work_and_an_ordinary_word_opening_a_line_is_no_owner() -> None:
    items = _items(
        "# TAC 2026-02-01\n\n## Voting member attendance\n* [x] Daniel Heckenberg - Chairperson, Animal Logic\n\n"
        "## Actions\n- Improved Add to IPFS menu\n- Happy to review the proposal, we are happy with the plan\n"
        "- @lidel @olizilla document release plans for Companion.\n"
    )
    assert [(_owners(i), i.text) for i in items] == [
        ([], "Improved Add to IPFS menu"),
        ([], "Happy to review the proposal, we are happy with the plan"),
        (["Lidel", "Olizilla"], "document release plans for Companion"),
    ]


def test_no_one_in_particular_is_never_a_name_an_item_mentions() -> None:
    items = _items("# Sync 2026-02-01\nAttendees: Dana Ortiz\n\n## Actions\n- @all: review the designs with Dana\n")
    assert [(_owners(i), i.mentioned) for i in items] == [([], ["Dana"])]
