"""One item view says who owns an item, for every surface and for the LLM prompt: its owners, or
"owner unclear (names: …)" when its line names people none of whom is written as its owner, and
"unassigned" only when nobody is named."""

from __future__ import annotations

import dataclasses
from datetime import date

from minutebook.search.evidence import Evidence, prompt
from minutebook.search.owners import OWNED, OWNER_UNCLEAR, UNASSIGNED, ItemView, Owner


def item(text: str, owners: list[Owner], mentioned: list[str]) -> ItemView:
    return ItemView(
        id=1, kind="action", text=text, detail="", owners=owners, owner_text=None, status="open", status_text=None,
        due_start=None, due_date=None, due_text=None, meeting_id=1, meeting_title="Platform sync",
        meeting_date=date(2025, 11, 18), source="sync.md", source_line=6, evidence=f"- [ ] {text}", chunk_id=None,
        mentioned=mentioned,
    )  # fmt: skip


DANA = Owner("Dana Ortiz", "person", None, "Dana Ortiz")
OWNED_ITEM = item("Ship the billing export", [DANA], [])
UNCLEAR_ITEM = item("Review the rollout plan with Lee Park", [], ["Lee Park"])
UNASSIGNED_ITEM = item("Write the migration runbook", [], [])


def test_owner_status_and_names_say_owner_unclear_beside_a_name() -> None:
    said = [(i.owner_status, i.owner_names) for i in (OWNED_ITEM, UNCLEAR_ITEM, UNASSIGNED_ITEM)]
    assert said == [
        (OWNED, "Dana Ortiz"),
        (OWNER_UNCLEAR, "owner unclear (names: Lee Park)"),
        (UNASSIGNED, "unassigned"),
    ]
    # JSON (CLI --json, the API) carries both, and a copy recomputes the status
    assert {"owner_status": "owner unclear", "mentioned": ["Lee Park"]}.items() <= dataclasses.asdict(
        UNCLEAR_ITEM
    ).items()
    assert dataclasses.replace(UNCLEAR_ITEM, owners=[DANA]).owner_status == OWNED


def test_the_llm_prompt_never_says_unassigned_beside_a_name() -> None:
    evidence = Evidence(hits=[], items=[OWNED_ITEM, UNCLEAR_ITEM, UNASSIGNED_ITEM], hashes={})
    user = prompt("Who reviews the rollout plan?", date(2025, 11, 20), None, evidence)[1]["content"]
    lines = [line for line in user.splitlines() if line.startswith("[")]
    assert "Ship the billing export — owner Dana Ortiz, status open" in lines[0]
    assert "Review the rollout plan with Lee Park — owner unclear (names: Lee Park), status open" in lines[1]
    assert "Write the migration runbook — unassigned, status open" in lines[2]
    assert not [line for line in lines if "unassigned" in line and "Lee Park" in line]
