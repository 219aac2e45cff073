""" "Who was on the call of …?" is answered from the meeting's attendee list."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from psycopg_pool import ConnectionPool

from minutebook.cache.prices import PriceTable
from minutebook.core.embedder import Embedder
from minutebook.ingest.grammar.questions import asks_who_attended
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.answer import AskOptions, ask

AS_OF = date(2026, 3, 20)


def note(day: str, people: str, topic: str) -> str:
    return f"# Platform sync — {day}\n\nAttendees: {people}\n\n## Notes\n- {topic}\n"


def test_who_was_on_the_call_names_the_attendees_of_that_days_meeting(
    pool: ConnectionPool, embedder: Embedder, tenant: str, tmp_path: Path
) -> None:
    (tmp_path / "2026-03-04-sync.md").write_text(
        note("2026-03-04", "Priya Raman, Tom Becker", "Staging certs renewed.")
    )
    (tmp_path / "2026-03-11-sync.md").write_text(note("2026-03-11", "Ana Lima, Tom Becker", "Billing export moved."))
    assert not ingest_paths(pool, embedder, [str(tmp_path)], options=IngestOptions(tenant=tenant, today=AS_OF)).failed
    options = AskOptions(tenant=tenant, as_of=AS_OF)
    answer = ask(pool, embedder, None, PriceTable.load(), "Who was on the call of March 4, 2026?", options=options)
    first = answer.text.splitlines()[0]
    assert answer.mode == "extractive" and "Priya Raman" in first and "Tom Becker" in first and "Ana Lima" not in first
    assert answer.citations[0].kind == "attendance" and answer.citations[0].source.endswith("2026-03-04-sync.md")


def test_attendance_questions_are_told_from_others() -> None:
    asked = [
        "Who attended the TAC meeting in February 2019?",
        "who was at the in-person review",
        "attendees of the board meeting",
    ]
    assert all(asks_who_attended(q) for q in asked)
    assert not any(
        asks_who_attended(q) for q in ["Who owns the release?", "who was on the hook for billing", "who will present"]
    )
