"""One relevance judge: search, who-owns and ask agree on what is not in the notes, say so in the
user's own words, and find what the notes say in other words."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from minutebook.cache.prices import PriceTable
from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.answer import AskOptions, ask
from minutebook.search.coverage import KeyTerms, key_terms
from minutebook.search.notes_search import search_notes
from minutebook.search.owners import owner_of
from minutebook.search.relevance import MEANING_MARGIN, WORDS_COVERED, decline_reason, judge

AS_OF = date(2026, 3, 10)
NOTE = """# Platform sync — 2026-03-02

Attendees: Priya Raman, Tom Becker

## Environments
- We will run an ephemeral staging stack per pull request, torn down after merge.
- Staging was down for most of Tuesday after the TLS certificate expired.
- ACTION: Tom to add certificate expiry alerts by 2026-03-09

## Hiring
- Two backend engineers approved for the second quarter.
"""

GRAPHQL = KeyTerms(
    {"graphql": 6.0, "gateway": 3.0}, frozenset({"graphql"}), {"graphql": "GraphQL", "gateway": "gateway"}
)


def test_a_passage_holding_enough_of_the_key_terms_makes_a_question_relevant() -> None:
    terms = KeyTerms({"stage": 3.0, "outag": 5.0}, frozenset(), {"stage": "staging", "outag": "outage"})
    assert judge(terms, WORDS_COVERED, 0.0, 0.2, windowed=False).about
    assert not judge(terms, WORDS_COVERED - 0.01, 0.0, 0.2, windowed=False).about


def test_meaning_clear_of_the_tenants_unrelated_questions_is_enough() -> None:
    assert judge(GRAPHQL, 0.0, 0.2 + MEANING_MARGIN, 0.2, windowed=False).about
    assert not judge(GRAPHQL, 0.0, 0.2 + MEANING_MARGIN - 0.01, 0.2, windowed=False).about
    # the same similarity in notes that are near everything (long transcripts) is not
    assert not judge(GRAPHQL, 0.0, 0.2 + MEANING_MARGIN, 0.25, windowed=False).about
    assert judge(GRAPHQL, 0.0, 0.0, 0.2, windowed=True).about  # the window is the subject


def test_a_decline_names_the_words_the_user_typed_not_stems() -> None:
    assert decline_reason(GRAPHQL) == "not in the notes: no note mentions “GraphQL”"
    known = KeyTerms({"stage": 3.0, "outag": 5.0}, frozenset(), {"stage": "staging", "outag": "outage"})
    assert decline_reason(known) == "not in the notes: no passage is about “outage”, “staging”"


@pytest.fixture
def platform(pool: ConnectionPool, embedder: Embedder, tenant: str, tmp_path: Path) -> str:
    (tmp_path / "2026-03-02-platform.md").write_text(NOTE)
    report = ingest_paths(pool, embedder, [str(tmp_path)], options=IngestOptions(tenant=tenant, today=AS_OF))
    assert not report.failed
    return tenant


def test_search_who_owns_and_ask_decline_the_same_absent_subject_in_its_own_words(
    pool: ConnectionPool, embedder: Embedder, platform: str
) -> None:
    question = "What did we decide about the GraphQL gateway?"
    found = search_notes(pool, embedder, question, tenant=platform, as_of=AS_OF)
    assert not found.hits and found.declined and "“GraphQL”" in found.declined
    owner = owner_of(pool, embedder, "Who owns the GraphQL gateway?", tenant=platform)
    assert owner.item is None and owner.declined and "“GraphQL”" in owner.declined
    answer = ask(pool, embedder, None, PriceTable.load(), question, options=AskOptions(tenant=platform, as_of=AS_OF))
    assert answer.mode == "not_in_notes" and "“GraphQL”" in answer.text


@pytest.mark.parametrize(
    ("question", "line"),
    [
        # a word no note uses ("lapsed", "okayed", "throwaway"), but the meaning is clearly the note's
        ("Which certificate lapsed and took staging offline?", "Staging was down"),
        ("How many backend hires were okayed for the second quarter?", "backend engineers approved"),
        ("Do we spin up a throwaway staging stack for each pull request?", "ephemeral staging stack"),
    ],
)
def test_a_question_in_other_words_than_the_notes_is_answered(
    pool: ConnectionPool, embedder: Embedder, platform: str, question: str, line: str
) -> None:
    found = search_notes(pool, embedder, question, tenant=platform, as_of=AS_OF, k=3)
    assert found.declined is None and found.hits and line in found.hits[0].text


def test_the_tenants_bar_is_measured_once_and_again_when_the_notes_change(
    pool: ConnectionPool, embedder: Embedder, platform: str, tmp_path: Path
) -> None:
    def stored() -> list[tuple]:
        with tenant_transaction(pool, platform) as conn:
            return conn.execute("SELECT meetings, unrelated, computed_at FROM relevance_calibration").fetchall()

    said = search_notes(pool, embedder, "When is the office moving?", tenant=platform, as_of=AS_OF).declined
    assert said == "not in the notes: no note mentions “office”, “moving”"  # as typed: not the stem "move"
    first = stored()
    assert len(first) == 1 and first[0][0] == 1 and 0 < first[0][1] < 1
    search_notes(pool, embedder, "certificate alerts", tenant=platform, as_of=AS_OF)
    assert stored() == first  # read, not measured again
    more = tmp_path / "more"
    more.mkdir()
    (more / "2026-03-09-platform.md").write_text(NOTE.replace("2026-03-02", "2026-03-09").replace("Tuesday", "Monday"))
    ingest_paths(pool, embedder, [str(more)], options=IngestOptions(tenant=platform, today=AS_OF))
    search_notes(pool, embedder, "staging outage", tenant=platform, as_of=AS_OF)
    again = stored()
    assert again[0][0] == 2 and again[0][2] > first[0][2]


def test_asked_of_one_meeting_the_meeting_is_the_subject(
    pool: ConnectionPool, embedder: Embedder, platform: str
) -> None:
    """Like a time window: `search --meeting` shows what that meeting holds nearest, never a decline."""
    with tenant_transaction(pool, platform) as conn:
        meeting = conn.execute("SELECT id FROM meetings").fetchone()[0]
    question = "What did we decide about the GraphQL gateway?"
    found = search_notes(pool, embedder, question, tenant=platform, as_of=AS_OF, meeting_id=meeting)
    assert found.declined is None and found.hits and {h.meeting_id for h in found.hits} == {meeting}


def test_a_typo_of_a_word_the_notes_use_is_told_from_a_word_they_do_not_use(
    pool: ConnectionPool, embedder: Embedder, platform: str, tmp_path: Path
) -> None:
    def unknown_words(question: str) -> set[str]:
        with tenant_transaction(pool, platform) as conn:
            terms = key_terms(conn, question, tenant=platform)
        return {terms.written[lexeme] for lexeme in terms.unknown}

    assert unknown_words("certificat expiry alerts") == set()  # a typo of the note's "certificate"
    assert unknown_words("kubernetes expiry alerts") == {"kubernetes"}
    # the note is rewritten without the word: its vocabulary goes with its old text
    rewritten = NOTE.replace("TLS certificate", "TLS key").replace("certificate ", "")
    (tmp_path / "2026-03-02-platform.md").write_text(rewritten)
    report = ingest_paths(pool, embedder, [str(tmp_path)], options=IngestOptions(tenant=platform, today=AS_OF))
    assert not report.failed
    assert unknown_words("certificat expiry alerts") == {"certificat"}
