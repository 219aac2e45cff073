"""Section-aware chunking: a chunk never crosses a section and never cuts a list item or a sentence
(unless that one item or sentence alone is larger than a chunk)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from minutebook.core.dates import clock, describe_date
from minutebook.ingest.formats.common import page_at, page_starts
from minutebook.ingest.parse import Line, ParsedNote, Section, indent_of, is_list_item
from minutebook.ingest.transcript import Turn

TokenCounter = Callable[[list[str]], list[int]]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_MIN_BODY_TOKENS = 40


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    section_path: tuple[str, ...]
    section_date: date | None
    text: str
    embed_text: str
    token_count: int
    line_start: int
    line_end: int
    speakers: tuple[str, ...] = ()  # transcripts: who speaks in this chunk
    time_start: float | None = None  # transcripts: seconds into the recording
    time_end: float | None = None
    section_date_end: date | None = None  # a section about a span of days (a range, a month)
    page: int | None = None  # notes with pages (a converted PDF): the page the passage starts on

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode()).hexdigest()


@dataclass
class _Unit:
    lines: list[Line]
    text: str
    tokens: int = 0


def approx_tokens(texts: list[str]) -> list[int]:
    """A model-free estimate (about one token per word-piece-sized run); tests and fallbacks."""
    return [len(re.findall(r"\w{1,6}|[^\w\s]", t)) for t in texts]


def embed_prefix(title: str, when: date | None, path: Sequence[str], until: date | None = None) -> str:
    parts = [title]
    if when:
        parts.append(describe_date(when, until or when, None))
    if path:
        parts.append(" › ".join(path))
    return " — ".join(parts) + "\n"


def _blocks(section: Section) -> list[list[Line]]:
    """Paragraphs and top-level list items (with everything nested under them)."""
    content = [ln for ln in section.lines if ln.text.strip()]
    if not content:
        return []
    base = min(indent_of(ln.text) for ln in content)
    blocks: list[list[Line]] = []
    current: list[Line] = []
    paragraph = False
    for ln in section.lines:
        if not ln.text.strip():
            if current:
                blocks.append(current)
            current, paragraph = [], False
            continue
        shallow = indent_of(ln.text) <= base
        if shallow and is_list_item(ln.text):
            if current:
                blocks.append(current)
            current, paragraph = [ln], False
        elif shallow and not paragraph:
            if current:
                blocks.append(current)
            current, paragraph = [ln], True
        else:
            current.append(ln)
    if current:
        blocks.append(current)
    return blocks


def _dedent(lines: list[Line], base: int) -> str:
    return "\n".join(ln.text.expandtabs(4)[base:].rstrip() for ln in lines)


def _split_text(text: str, line: Line, budget: int, count: TokenCounter) -> list[_Unit]:
    """Sentences of an over-long line; words only when a single sentence is still too long."""
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    units: list[_Unit] = []
    for sentence, tokens in zip(sentences, count(sentences), strict=True):
        if tokens <= budget:
            units.append(_Unit([line], sentence, tokens))
            continue
        words = sentence.split()
        per = max(1, int(len(words) * budget / max(tokens, 1) * 0.9))
        for k in range(0, len(words), per):
            piece = " ".join(words[k : k + per])
            units.append(_Unit([line], piece, count([piece])[0]))
    return units


def _units(block: list[Line], base: int, budget: int, count: TokenCounter) -> list[_Unit]:
    whole = _Unit(block, _dedent(block, base))
    whole.tokens = count([whole.text])[0]
    if whole.tokens <= budget:
        return [whole]
    # too big: each line (nested item) is a unit; the item's own line leads the first one
    units: list[_Unit] = []
    for ln in block:
        text = _dedent([ln], base)
        tokens = count([text])[0]
        if tokens <= budget:
            units.append(_Unit([ln], text, tokens))
        else:
            units.extend(_split_text(text, ln, budget, count))
    return units


def _pack(units: list[_Unit], budget: int) -> list[list[_Unit]]:
    """Greedy packing towards equal-sized chunks, none over budget."""
    total = sum(u.tokens for u in units)
    n = max(1, math.ceil(total / budget))
    target = total / n
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for unit in units:
        if current and (size + unit.tokens > budget or size >= target):
            groups.append(current)
            current, size = [], 0
        current.append(unit)
        size += unit.tokens
    if current:
        groups.append(current)
    return groups


_SHORT_TURN_WORDS = 4  # "yes", "okay, sounds good": context for a neighbour, never a passage alone


def _turn_pieces(turn: Turn, budget: int, count: TokenCounter) -> list[tuple[Turn, str, int]]:
    """A turn as whole as the budget allows; a monologue is cut between sentences."""
    head = f"{turn.speaker or 'Unknown'} ({clock(turn.start)}): " if turn.start is not None else f"{turn.speaker}: "
    text = head + turn.text
    tokens = count([text])[0]
    if tokens <= budget:
        return [(turn, text, tokens)]
    pieces: list[tuple[Turn, str, int]] = []
    current = head
    for sentence in _SENTENCE_END.split(turn.text):
        candidate = f"{current} {sentence}".strip() if current != head else head + sentence
        if current != head and count([candidate])[0] > budget:
            pieces.append((turn, current, count([current])[0]))
            current = head + sentence
        else:
            current = candidate
    pieces.append((turn, current, count([current])[0]))
    return pieces


def chunk_transcript(note: ParsedNote, count: TokenCounter = approx_tokens, *, max_tokens: int = 230) -> list[Chunk]:
    """Chunks of whole speaker turns, each with its time range and speakers."""
    speakers_line = "Speakers: " + ", ".join(dict.fromkeys(t.speaker or "" for t in note.turns))
    widest = embed_prefix(note.title, note.date_start, ("00:00:00–00:00:00",)) + speakers_line
    budget = max(_MIN_BODY_TOKENS, max_tokens - count([widest])[0])
    groups: list[list[tuple[Turn, str, int]]] = [[]]
    used = 0
    for turn in note.turns:
        for piece in _turn_pieces(turn, budget, count):
            if groups[-1] and used + piece[2] > budget:
                groups.append([])
                used = 0
            groups[-1].append(piece)
            used += piece[2]
    groups = [g for g in groups if g]
    # a chunk of nothing but short replies joins the chunk before it
    merged: list[list[tuple[Turn, str, int]]] = []
    for group in groups:
        if merged and all(len(t.text.split()) < _SHORT_TURN_WORDS for t, _, _ in group):
            merged[-1].extend(group)
        else:
            merged.append(group)
    chunks: list[Chunk] = []
    for group in merged:
        turns = [t for t, _, _ in group]
        speakers = tuple(dict.fromkeys(t.speaker for t in turns if t.speaker))
        start, end = turns[0].start, max((t.end or t.start or 0.0) for t in turns)
        span = f"{clock(start)}–{clock(end)}" if start is not None else ""
        prefix = embed_prefix(note.title, note.date_start, (span,) if span else (), note.date_end)
        text = "\n".join(body for _, body, _ in group)
        said_by = f"Speakers: {', '.join(speakers)}\n" if speakers else ""
        chunks.append(
            Chunk(
                ordinal=len(chunks),
                section_path=(span,) if span else (),
                section_date=note.date_start,
                section_date_end=note.date_end,
                text=text,
                embed_text=prefix + said_by + text,
                token_count=sum(n for _, _, n in group) + count([prefix + said_by])[0],
                line_start=min(t.line_start for t in turns),
                line_end=max(t.line_end for t in turns),
                speakers=speakers,
                time_start=start,
                time_end=end if start is not None else None,
            )
        )
    return chunks


def chunk_note(note: ParsedNote, count: TokenCounter = approx_tokens, *, max_tokens: int = 230) -> list[Chunk]:
    """The note's passages, each with the page it starts on when the note has pages (a PDF's)."""
    chunks = (
        chunk_transcript(note, count, max_tokens=max_tokens) if note.turns else _chunk_sections(note, count, max_tokens)
    )
    starts = page_starts(note.lines)
    if not starts:
        return chunks
    return [replace(c, page=page_at(starts, c.line_start + 1)) for c in chunks]  # line_start is 0-based


def _chunk_sections(note: ParsedNote, count: TokenCounter, max_tokens: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in note.sections:
        content = [ln for ln in section.lines if ln.text.strip()]
        if not content:
            continue
        base = min(indent_of(ln.text) for ln in content)
        prefix = embed_prefix(note.title, section.date, section.path, section.date_end)
        budget = max(_MIN_BODY_TOKENS, max_tokens - count([prefix])[0])
        units = [u for block in _blocks(section) for u in _units(block, base, budget, count)]
        for group in _pack(units, budget):
            text = "\n".join(u.text for u in group).strip("\n")
            lines = [ln for u in group for ln in u.lines]
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    section_path=section.path,
                    section_date=section.date,
                    section_date_end=section.date_end,
                    text=text,
                    embed_text=prefix + text,
                    token_count=sum(u.tokens for u in group) + count([prefix])[0],
                    line_start=min(ln.number for ln in lines),
                    line_end=max(ln.number for ln in lines),
                )
            )
    return chunks
