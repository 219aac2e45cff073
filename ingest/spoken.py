"""Commitments and decisions spoken aloud in a transcript, as items like the written ones.

- A speaker committing ("I'll take the dashboards … by November 28") owns the work.
- A speaker assigning ("Kenji, you own the implementation … by December 1st?") makes the named
  person the owner only when that person's next turn agrees ("Yes", "Sure", "I can do that").
- "Decision: we go ahead with …" (or "we've decided to …") is a decision.
Nothing else is guessed: talk about work is not a commitment to it.
"""

from __future__ import annotations

import re
from datetime import date

from minutebook.ingest.extract import ExtractedItem, take_due
from minutebook.ingest.owners import OwnerRef, parse_owners
from minutebook.ingest.parse import ParsedNote, budget_of
from minutebook.ingest.transcript import Turn

_SENTENCES = re.compile(r"(?<=[.!?])\s+")
_COMMIT = re.compile(
    r"\bI(?:'ll| will| can| am going to|'m going to| shall)\s+(?:also\s+|then\s+)?"
    r"(?P<task>(?:take|own|handle|do|send|write|draft|prepare|fix|set up|schedule|review|ship|finish|"
    r"follow up|reach out|update|run|build|book|share|look into|put together|get|circulate|check)\b.*)",
    re.IGNORECASE,
)
_ASSIGN = re.compile(
    r"^(?P<name>[A-Z][a-z]+(?: [A-Z][a-z]+)?)[,:]\s+(?:(?:can|could|will|would) you\s+|you(?:'ll| will)?\s+)"
    r"(?P<task>.+)$"
)
_AGREE = re.compile(
    r"^(?:yes|yeah|yep|sure|ok(?:ay)?|absolutely|definitely|will do|sounds good|i can|i will|i'll|"
    r"on it|of course|no problem|can do)\b",
    re.IGNORECASE,
)
_DECISION = re.compile(
    r"(?:^|\b)(?:decision(?: is)?:|we(?:'ve| have)? decided(?: to| that)?|"
    r"(?:so )?we(?:'re| are)? going (?:ahead )?with|let's go (?:ahead )?with|"
    r"we(?:'ll| will) go (?:ahead )?with)\s*(?P<text>.+)",
    re.IGNORECASE,
)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCES.split(text) if s.strip()]


# `(?<!\s)`: a run of spaces is tried from its start only, not from each space in it (quadratic)
_TAIL_QUESTION = re.compile(r",?(?<!\s)\s+(?:can|could|will|would) you\b.*$", re.IGNORECASE)
_TRAILING_PUNCTUATION = ",;:—-"
_VAGUE = re.compile(r"^(?:\w+\s+)?(?:that|it|this|so)$", re.IGNORECASE)  # "do that", "take it"


def _clean_task(text: str) -> str:
    text = _TAIL_QUESTION.sub("", text.strip())
    text = text.rstrip("?.!")
    end = len(text)  # a search for "[\s,;:—-]+$" would retry from every character of a long run
    while end and (text[end - 1].isspace() or text[end - 1] in _TRAILING_PUNCTUATION):
        end -= 1
    text = text[:end]
    return text[:1].upper() + text[1:]


def _owner(speaker: str) -> list[OwnerRef]:
    return parse_owners(speaker) or [OwnerRef(speaker, "person", None, speaker)]


def extract_spoken(note: ParsedNote) -> list[ExtractedItem]:
    """Commitments and decisions in a transcript's turns; the work is charged to the note's parse budget."""
    with budget_of(note).active():
        return _extract_spoken(note)


def _extract_spoken(note: ParsedNote) -> list[ExtractedItem]:
    items: list[ExtractedItem] = []
    turns = note.turns
    ref = note.date_start or note.reference
    agreed: set[int] = set()  # replies that accepted an assignment are not commitments of their own
    for k, turn in enumerate(turns):
        if k in agreed:
            continue
        for sentence in _sentences(turn.text):
            if (m := _DECISION.search(sentence)) and len(m["text"].split()) >= 2:
                items.append(_item("decision", m["text"], turn, sentence, ref, owner=None))
                continue
            if turn.speaker and (m := _COMMIT.search(sentence)) and not _VAGUE.match(_clean_task(m["task"])):
                items.append(_item("action", m["task"], turn, sentence, ref, owner=turn.speaker))
                continue
            if (m := _ASSIGN.match(sentence)) and (found := _agreeing_turn(m["name"], turns, k)):
                agreed.add(found)
                items.append(_item("action", m["task"], turn, sentence, ref, owner=turns[found].speaker))
    return items


def _agreeing_turn(name: str, turns: list[Turn], k: int) -> int | None:
    """The index of the named person's reply within the next two turns, when it agrees."""
    first = name.split()[0].lower()
    for j in range(k + 1, min(k + 3, len(turns))):
        speaker = turns[j].speaker
        if speaker and speaker.split()[0].lower() == first:
            return j if _AGREE.match(turns[j].text.strip()) else None
    return None


def _item(kind: str, task: str, turn: Turn, evidence: str, ref: date | None, *, owner: str | None) -> ExtractedItem:
    text, due = take_due(task, ref, any_date=True)
    item = ExtractedItem(
        kind=kind,
        text=_clean_task(text),
        line=turn.line_start,
        evidence=f"{turn.speaker}: {evidence}" if turn.speaker else evidence,
        spoken_at=turn.start,
    )
    if owner:
        item.owners = _owner(owner)
        item.owner_text = owner
    if due:
        item.due_start, item.due_date, item.due_text = due.start, due.end, due.text
    if kind == "decision":
        item.status = "approved"
    return item
