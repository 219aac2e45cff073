"""Answers without an LLM: the evidence lines that share the most words with the question.

Each line is quoted once (an item and the passage line it was read from are one line, said the
item's way: owner, due date, status), plain (no list markers or checkboxes), and cited in the
order the answer shows them: [1], [2], [3].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import psycopg

from minutebook.ingest.grammar.questions import word_root
from minutebook.ingest.parse import strip_marker
from minutebook.search.attendance import Attendance
from minutebook.search.evidence import Citation, Evidence
from minutebook.search.hybrid import SearchHit, query_words
from minutebook.search.owners import ItemView, question_topic

MAX_LINES = 4  # an answer, not a page (bench/answers.py reads these)
ITEM_SCORE = 2.0  # an item matched on the question's topic ranks with a line sharing two of its words
ATTENDANCE_SCORE = 10.0  # an attendee list, when the question asks who was there, ranks first
_WORD = re.compile(r"[\w'’-]+")


@dataclass(frozen=True)
class _Line:
    score: float
    n: int  # the evidence's number
    text: str
    item: ItemView | None = None


def extractive_answer(
    conn: psycopg.Connection, question: str, evidence: Evidence, *, tenant: str
) -> tuple[str, list[Citation]]:
    """The best line of each passage or item (never two under one citation, never one line
    twice), best first, each cited; the citations renumbered in order of appearance."""
    roots = {word_root(w) for w in query_words(question_topic(question))}
    items = [(n, ev) for n, ev in evidence.numbered() if isinstance(ev, ItemView)]
    lines = [_Line(ITEM_SCORE + 1 / n, n, "", ev) for n, ev in items]
    # "who was on the call …": the attendee lists say it best, before any line
    lines += [
        _Line(ATTENDANCE_SCORE + 1 / n, n, _attended(ev)) for n, ev in evidence.numbered() if isinstance(ev, Attendance)
    ]
    for n, ev in evidence.numbered():
        if isinstance(ev, SearchHit):
            for raw in ev.text.splitlines():
                text = plain(raw)
                said_words = query_words(text)
                overlap = sum(1 for r in roots if any(w.startswith(r) for w in said_words))
                if not text or not overlap:
                    continue
                said = next((i for i in lines if i.item and _states(i.item, ev.chunk_id, text)), None)
                if said is None:
                    lines.append(_Line(overlap + 1 / n, n, text))
                elif overlap + 1 / n > said.score:  # the item says this line: it takes the line's rank
                    lines[lines.index(said)] = replace(said, score=overlap + 1 / n)
    best: dict[int, _Line] = {}
    for line in sorted(lines, key=lambda x: -x.score):
        best.setdefault(line.n, line)
    chosen = list(best.values())[:MAX_LINES]
    if not chosen and evidence.hits:
        chosen = [_Line(0.0, 1, plain(evidence.hits[0].text.strip().splitlines()[0]))]
    citations = evidence.citations()
    shown = [_say(c.item) if c.item else c.text for c in chosen]
    text = "\n".join(f"{line} [{k}]" for k, line in enumerate(shown, 1))
    return text, [replace(citations[c.n], n=k) for k, c in enumerate(chosen, 1)]


def plain(line: str) -> str:
    """A note line without its list markers and checkboxes ("- [ ] ship it" → "ship it")."""
    text = line.strip()
    while (bare := strip_marker(text)) != text:
        text = bare
    return text


def _attended(attendance: Attendance) -> str:
    when = f" ({attendance.meeting_date.isoformat()})" if attendance.meeting_date else ""
    return f"Attendees of {attendance.meeting_title}{when}: {', '.join(attendance.names)}"


def _states(item: ItemView, chunk_id: int, line: str) -> bool:
    """The item was read from this line of this passage."""
    if item.chunk_id != chunk_id:
        return False
    said = line.lower()
    return plain(item.evidence).lower() == said or (bool(item.text) and item.text.lower() in said)


def _say(item: ItemView) -> str:
    """An item with its owner, due date and status. No stored owner: "owner unclear (names: …)"
    when its line names someone (never "unassigned" next to a name), else nothing about an owner."""
    owner = item.owner_names if item.owners or item.mentioned else None
    facts = [f for f in (owner, f"due {item.due_date}" if item.due_date else None) if f]
    status = f" ({item.status_text or item.status})"
    return f"{item.text} — {', '.join(facts)}{status}" if facts else f"{item.text}{status}"
