"""Transcripts (WebVTT, SRT, plain-text exports): turns, turn-aligned chunks, spoken commitments."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from conftest import FIXTURES
from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import IngestError
from minutebook.ingest.chunk import chunk_note
from minutebook.ingest.parse import parse_note
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.ingest.spoken import extract_spoken
from minutebook.ingest.transcript import parse_transcript
from minutebook.search.answer import AskOptions, ask
from minutebook.search.owners import who_owns
from minutebook.search.relevance import unrelated_similarity

TRANSCRIPTS = FIXTURES / "transcripts"
VTT = TRANSCRIPTS / "2025-11-20-platform-sync.vtt"
SRT = TRANSCRIPTS / "2025-11-21-design-review.srt"


def parsed(path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return parse_note(path.read_text(), path.name, **kw)  # type: ignore[arg-type]


def test_vtt_voice_tags_cues_merged_into_turns_and_notes_skipped() -> None:
    note = parsed(VTT)
    assert note.title == "Platform sync" and note.date_start == date(2025, 11, 20)
    assert [a.name for a in note.attendees] == ["Aiko Tanaka", "Kenji Mori", "Priya Nair"]
    first = note.turns[0]
    assert (first.speaker, first.start, first.end) == ("Aiko Tanaka", 1.0, 11.0)  # cues 1 and 2, one turn
    assert first.text.startswith("Morning everyone.") and "far too noisy" in first.text
    assert all("<" not in t.text and "exported from Teams" not in t.text for t in note.turns)
    assert [t.speaker for t in note.turns].count("Kenji Mori") == 2


def test_srt_and_plain_exports_are_recognised_by_content() -> None:
    srt = parsed(SRT)
    assert [(t.speaker, t.start) for t in srt.turns] == [
        ("Marta Lopez", 0.5),  # the unnamed cue continues Marta's turn
        ("Tom Becker", 9.5),
        ("Marta Lopez", 15.0),
        ("Tom Becker", 21.5),
    ]
    assert srt.turns[0].end == 9.0 and "hourly" in srt.turns[0].text
    stamped = parsed(TRANSCRIPTS / "retro-export.txt", reference=date(2025, 11, 24))
    assert [t.speaker for t in stamped.turns][:2] == ["Lena Fischer", "Omar Haddad"]
    assert stamped.turns[1].start == 9 and stamped.turns[1].end == 15
    assert stamped.date_start is None and "no meeting date" in stamped.warnings[0]
    otter = parsed(TRANSCRIPTS / "standup-otter.txt", modified=date(2025, 11, 19))
    assert [(t.speaker, t.start) for t in otter.turns] == [("Ravi Kumar", 5), ("Sofia Rossi", 21), ("Ravi Kumar", 40)]
    assert otter.date_start == date(2025, 11, 19) and "file's date" in otter.warnings[0]
    ordinary = parse_note("# Sync\n\n- Kenji: ship it by Friday\n", "sync.md")
    assert ordinary.turns == []


def test_chunks_hold_whole_turns_with_speakers_and_times() -> None:
    note = parsed(VTT)
    chunks = chunk_note(note, max_tokens=120)
    assert len(chunks) > 1
    for turn in note.turns:
        holding = [c for c in chunks if turn.text in c.text]
        assert len(holding) == 1, f"turn split or lost: {turn.text[:40]}"
    for chunk in chunks:
        assert chunk.speakers and chunk.time_start is not None and chunk.time_end >= chunk.time_start
        assert chunk.embed_text.count("Speakers: " + ", ".join(chunk.speakers)) == 1
        assert chunk.text != "Priya Nair (00:00:19): Okay."  # a lone "Okay." is never a passage
    long = "WEBVTT\n\n00:00:00.000 --> 00:05:00.000\n<v Ana Silva>" + " ".join(
        f"Point {i} is about the rollout plan for region {i}." for i in range(80)
    )
    pieces = chunk_note(parse_note(long, "2025-11-01-monologue.vtt"), max_tokens=120)
    assert len(pieces) > 1 and all(c.speakers == ("Ana Silva",) for c in pieces)
    assert all(c.text.rstrip().endswith(".") for c in pieces)  # cut between sentences only


def test_spoken_commitments_assignments_and_decisions() -> None:
    items = extract_spoken(parsed(VTT))
    found = {(i.kind, i.text, tuple(o.name for o in i.owners), i.due_date) for i in items}
    assert ("action", "Take the dashboards for the new alert", ("Priya Nair",), date(2025, 11, 28)) in found
    assert ("action", "Own the implementation in the alert manager", ("Kenji Mori",), date(2025, 12, 1)) in found
    decisions = [i for i in items if i.kind == "decision"]
    assert [d.text for d in decisions] == ["We go ahead with a 450 millisecond threshold for the p99 alert"]
    assert len(items) == 3  # "Yes, I can do that" accepts; it is not a commitment of its own
    srt_items = extract_spoken(parsed(SRT))
    assert {(i.kind, i.text) for i in srt_items} == {
        ("decision", "Move the export to the streaming pipeline"),
        ("action", "Write the migration plan"),
    }
    unanswered = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Aiko>Kenji, can you own the rollout by Dec 3?\n\n" \
        "00:00:05.000 --> 00:00:08.000\n<v Kenji>Not this sprint, sorry.\n"  # fmt: skip
    assert extract_spoken(parse_note(unanswered, "2025-11-20-x.vtt")) == []


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("bad-time.vtt", "WEBVTT\n\n00:00:01.000 --> 00:0x:04.000\n<v A>Hello there\n", "bad cue timing"),
        ("no-header.vtt", "00:00:01.000 --> 00:00:04.000\n<v A>Hello there\n", "missing the WEBVTT header"),
        ("backwards.srt", "1\n00:00:09,000 --> 00:00:04,000\nA: Hello\n", "ends before it starts"),
        ("no-timing.srt", "1\nHello there\n\n2\nGeneral Kenobi\n", "not an SRT file"),
        ("silent.vtt", "WEBVTT\n\nNOTE nothing was said\n", "no spoken text"),
    ],
)
def test_malformed_transcripts_are_refused_clearly(name: str, content: str, says: str) -> None:
    with pytest.raises(IngestError, match=says):
        parse_transcript(content, name)


def test_malformed_and_binary_transcripts_write_nothing(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tmp_path: Path
) -> None:
    (tmp_path / "bad.vtt").write_text("WEBVTT\n\n00:00:01.000 --> nonsense\n<v A>Hi\n")
    (tmp_path / "blob.srt").write_bytes(bytes(range(256)) * 40)
    report = ingest_paths(pool, embedder, [str(tmp_path)], options=options)
    assert {o.status for o in report.outcomes} == {"failed"}
    assert any("bad cue timing" in (o.error or "") for o in report.outcomes)
    with tenant_transaction(pool, options.tenant) as conn:
        assert conn.execute("SELECT count(*) FROM meetings").fetchone() == (0,)


def test_who_owns_and_citations_over_a_transcript(
    pool: ConnectionPool, embedder: Embedder, options: IngestOptions, tmp_path: Path
) -> None:
    shutil.copy(VTT, tmp_path / VTT.name)
    report = ingest_paths(pool, embedder, [str(tmp_path)], options=options)
    assert [o.status for o in report.outcomes] == ["new"]
    with tenant_transaction(pool, options.tenant) as conn:
        unrelated = unrelated_similarity(conn, embedder, tenant=options.tenant)
        answer = who_owns(
            conn,
            embedder.encode_one("alert dashboards"),
            "alert dashboards",
            tenant=options.tenant,
            unrelated=unrelated,
        )
        assert answer.found and answer.item is not None
        assert [o.name for o in answer.item.owners] == ["Priya Nair"] and answer.item.due_date == date(2025, 11, 28)
        kenji = who_owns(conn, embedder.encode_one("alert manager implementation"), "alert manager implementation",
                         tenant=options.tenant, unrelated=unrelated)  # fmt: skip
        assert kenji.item is not None and [o.name for o in kenji.item.owners] == ["Kenji Mori"]
        speakers = conn.execute("SELECT speakers, time_start FROM chunks ORDER BY ordinal").fetchall()
        assert speakers[0] == (["Aiko Tanaka", "Kenji Mori", "Priya Nair"], 1.0)
    result = ask(
        pool,
        embedder,
        None,
        None,  # type: ignore[arg-type]
        "What alert threshold did we agree?",
        options=AskOptions(tenant=options.tenant, as_of=date(2025, 11, 24)),
    )
    assert "450" in result.text
    assert any(c.spoken and c.spoken.endswith(("00:00:01", "00:00:20")) for c in result.citations)
