"""Words written where an owner goes that name no one (issue 23, item 18): "All: code freeze" is
everyone's work and no one's item, so it is unassigned, never owned by a person or team "All"."""

from __future__ import annotations

import pytest

from minutebook.ingest.extract import extract_items
from minutebook.ingest.owners import NOT_A_PERSON, parse_owners
from minutebook.ingest.parse import parse_note

NOTE = """# Release sync - Dec 2, 2025

## Action Items
- [ ] All: Code freeze Dec 20 - Jan 5 (emergency fixes only)
- [ ] Everyone: update your laptops by Dec 12
- [ ] Rotate the staging keys (Team, Dec 10)
- [ ] Review the runbook - Owner: everybody, due Dec 15
- [ ] Pick a vendor (Owner: TBD)
- [ ] Security team: patch the WAF rules by Dec 8
- [ ] Sarah Chen: write the release notes by Dec 18
"""


NO_ONE = ["All", "all", "ALL", "Everyone", "@everyone", "@all", "Everybody", "Team", "The team", "Nobody", "TBD", "n/a"]


@pytest.mark.parametrize("written", NO_ONE)
def test_words_for_everyone_or_no_one_are_no_owner(written: str) -> None:
    assert parse_owners(written) == []


def test_a_named_owner_beside_everyone_keeps_the_name() -> None:
    assert [o.name for o in parse_owners("Sarah + All") or []] == ["Sarah"]
    assert [(o.name, o.kind) for o in parse_owners("Security team") or []] == [("Security team", "team")]
    assert {"all", "everyone", "team", "everybody", "nobody", "tbd", "n/a"} <= NOT_A_PERSON


def test_items_owned_by_everyone_are_unassigned() -> None:
    items = {i.text: i for i in extract_items(parse_note(NOTE, "2025-12-02-release-sync.md"))}
    owners = {text: [o.name for o in item.owners] for text, item in items.items()}
    for task in (
        "Code freeze",
        "update your laptops",
        "Rotate the staging keys",
        "Review the runbook",
        "Pick a vendor",
    ):
        found = [text for text in owners if task in text]
        assert len(found) == 1, (task, list(owners))
        assert owners[found[0]] == [], (task, owners[found[0]])
    assert next(o for t, o in owners.items() if "WAF" in t) == ["Security team"]
    assert next(o for t, o in owners.items() if "release notes" in t) == ["Sarah Chen"]
    everyone = [o for item in items.values() for o in item.owners if o.name.lower() in NOT_A_PERSON]
    assert everyone == []
