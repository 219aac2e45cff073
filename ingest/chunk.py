"""Section-aware chunking: a chunk never crosses a section and never cuts a list item or a sentence
(unless that one item or sentence alone is larger than a chunk)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from minutebook.ingest.parse import Line, ParsedNote, Section, indent_of, is_list_item

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


def embed_prefix(title: str, when: date | None, path: Sequence[str]) -> str:
    parts = [title]
    if when:
        parts.append(when.isoformat())
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


def chunk_note(note: ParsedNote, count: TokenCounter = approx_tokens, *, max_tokens: int = 230) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in note.sections:
        content = [ln for ln in section.lines if ln.text.strip()]
        if not content:
            continue
        base = min(indent_of(ln.text) for ln in content)
        prefix = embed_prefix(note.title, section.date, section.path)
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
                    text=text,
                    embed_text=prefix + text,
                    token_count=sum(u.tokens for u in group) + count([prefix])[0],
                    line_start=min(ln.number for ln in lines),
                    line_end=max(ln.number for ln in lines),
                )
            )
    return chunks
