"""What every converter shares: the markdown it writes, the fallbacks it adds, the limits it keeps.

A converted note is written as the markdown the note grammar already reads (`#` headings, nested
`-`/`1.` lists, `| a | b |` tables, `**Label:**`, `- [ ]` checkboxes), so one grammar parses every
format. What the document says about itself (a title, a creation date) goes into a front matter
block only when the body says neither: the body's own title and date always win.
"""

from __future__ import annotations

import bisect
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath

from minutebook.core.errors import IngestError
from minutebook.ingest.grammar.notes import DONE_GLYPHS, OPEN_GLYPHS
from minutebook.ingest.parse import front_matter, parse_note

# A .docx is a zip of XML that compresses about tenfold; a zip whose parts would unpack to more
# than this many times the note size limit is refused before anything is extracted.
MAX_UNZIPPED_RATIO = 20
MAX_ZIP_ENTRIES = 2_000
# The deepest nesting of lists a converter writes: deeper levels are written at this one.
MAX_LIST_LEVEL = 8
PAGES_KEY = "pdf-pages"  # front matter of a converted PDF: the line each page starts on (a name no note uses)

Segment = tuple[str, bool]  # a run of text and whether it is bold


@dataclass(frozen=True)
class Converted:
    text: str
    encoding: str  # the format it was read from: docx | html | pdf
    warnings: list[str] = field(default_factory=list)


def checked_zip(data: bytes, name: str, *, max_bytes: int, required: str) -> zipfile.ZipFile:
    """The archive, once its table of contents shows it is whole, holds `required` and unpacks to
    no more than MAX_UNZIPPED_RATIO × max_bytes: a zip bomb is refused before any part is read.
    The declared sizes bound what `zipfile` will ever return (it stops at them and checks the CRC)."""
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError(f"{name}: not a valid {PurePath(name).suffix} file (not a zip archive: {exc})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise IngestError(f"{name}: refused, the archive holds {len(infos)} parts (limit {MAX_ZIP_ENTRIES})")
    unpacked = sum(i.file_size for i in infos)
    limit = MAX_UNZIPPED_RATIO * max_bytes
    if unpacked > limit:
        raise IngestError(
            f"{name}: refused, it would unpack to {unpacked / 1e6:.1f} MB, over the {limit / 1e6:.1f} MB limit "
            f"({MAX_UNZIPPED_RATIO} × MINUTEBOOK_MAX_NOTE_BYTES): a zip bomb or a very large document"
        )
    if required not in {i.filename for i in infos}:
        raise IngestError(f"{name}: not a valid {PurePath(name).suffix} file (no {required} inside)")
    return archive


def _checkbox(text: str) -> tuple[str | None, str]:
    """("[ ]"/"[x]", rest) when the text opens with a checkbox glyph, else (None, text)."""
    stripped = text.lstrip()
    for glyphs, box in ((DONE_GLYPHS, "[x]"), (OPEN_GLYPHS, "[ ]")):
        for glyph in glyphs:
            if len(glyph) == 1 and stripped.startswith(glyph):
                return box, stripped[1:].lstrip()
    return None, text


def render(segments: list[Segment]) -> str:
    """Runs as one markdown line: bold runs as `**…**` with their spaces outside the markers."""
    merged: list[list] = []
    for text, bold in segments:
        if not text:
            continue
        if merged and merged[-1][1] == bold:
            merged[-1][0] += text
        else:
            merged.append([text, bold])
    out: list[str] = []
    for text, bold in merged:
        core = text.strip()
        if not bold or not core or not any(c.isalnum() for c in core):
            out.append(text)
            continue
        lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
        out.append(f"{lead}**{core}**{trail}")
    return " ".join("".join(out).split())


def plain(segments: list[Segment]) -> str:
    return " ".join("".join(t for t, _ in segments).split())


def cell_text(text: str) -> str:
    """A table cell on one line, unable to open another column."""
    return " ".join(text.replace("|", "/").split())


class MarkdownWriter:
    """Builds the note's text block by block, with the blank lines the grammar expects: a
    heading, a table and a paragraph after a list stand apart; a list follows its label directly
    (`Action items:` then its items is how the grammar finds a labelled list)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._last = "start"  # start | heading | paragraph | item | table
        self._indent: list[int] = [0]  # indent of each open list level

    def _gap(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split()).strip("# ")
        if not text:
            return
        self._gap()
        self.lines.append(f"{'#' * max(1, min(level, 6))} {text}")
        self._last = "heading"
        self._indent = [0]

    def paragraph(self, text: str) -> None:
        """A paragraph; its line breaks (a `<br>`, a soft return) stay lines with no gap between."""
        opening = True
        for line in text.split("\n"):
            line = " ".join(line.split())
            if not line:
                continue
            if _checkbox(line)[0]:  # "☐ Send the deck" is a to-do, however it was typed
                self.item(0, None, line)
                opening = True
                continue
            if opening and self._last in ("item", "table", "paragraph"):
                self._gap()
            opening = False
            self.lines.append(line)
            self._last = "paragraph"
        self._indent = [0]

    def field(self, text: str) -> None:
        """A `Key: value` line (a properties table's row): header lines stand together."""
        line = " ".join(text.split())
        if not line:
            return
        if self._last in ("item", "table", "paragraph"):
            self._gap()
        self.lines.append(line)
        self._last = "field"

    def item(self, level: int, number: int | None, text: str) -> None:
        """A list item at `level` (0 = top), numbered when `number` is given; a leading ☐/☑ or
        `[ ]` becomes a markdown checkbox."""
        level = max(0, min(level, MAX_LIST_LEVEL))
        text = " ".join(text.split())
        box, rest = _checkbox(text)
        if box:
            text = f"{box} {rest}"
        if not text:
            return
        if self._last == "table":
            self._gap()
        while len(self._indent) <= level:  # a level skipped (1 → 3) still nests under the last one
            self._indent.append(self._indent[-1] + 2)
        del self._indent[level + 1 :]
        marker = f"{number}." if number is not None else "-"
        self.lines.append(f"{' ' * self._indent[level]}{marker} {text}")
        self._indent.append(self._indent[level] + len(marker) + 1)
        self._last = "item"

    def continuation(self, text: str) -> None:
        """More text of the last list item (a second paragraph, text after its nested list)."""
        text = " ".join(text.split())
        if not text:
            return
        if self._last != "item":
            self.paragraph(text)
            return
        self.lines.append(" " * self._indent[-1] + text)

    def table(self, rows: list[list[str]]) -> None:
        """A markdown pipe table; the first row is its header. A one-column table is paragraphs
        and a table of `Key | value` rows whose keys are headers reads as field lines."""
        rows = [[cell_text(c) for c in row] for row in rows]
        rows = [row for row in rows if any(row)]
        if not rows:
            return
        width = max(len(r) for r in rows)
        if width == 1:
            for row in rows:
                self.paragraph(row[0])
            return
        self._gap()
        for k, row in enumerate(rows):
            row = row + [""] * (width - len(row))
            self.lines.append("| " + " | ".join(row) + " |")
            if k == 0:
                self.lines.append("|" + "---|" * width)
        self.lines.append("")
        self._last = "table"
        self._indent = [0]

    @property
    def in_list(self) -> bool:
        return self._last == "item"

    def page_break(self) -> int:
        """The line (0-based) the next page's text starts on."""
        return len(self.lines)

    def text(self) -> str:
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""


def fallback_fields(body: str, name: str, *, title: str | None, when: date | None) -> dict[str, str]:
    """Front matter fields for what the body lacks: the document's title when the body's title
    (as the grammar reads it) is no heading, its date when the body has none (the file name's
    date counts as the body's: people name files on purpose)."""
    fields: dict[str, str] = {}
    title = " ".join((title or "").split())
    if title or when:
        parsed = parse_note(body, name)
        lines = body.splitlines()
        titled = parsed.title_line is not None and lines[parsed.title_line].lstrip().startswith("#")
        if title and not titled:  # a first line that is no heading is a weaker title than the document's
            fields["title"] = title
        if when and parsed.date_start is None:
            fields["date"] = when.isoformat()
    return fields


def with_front_matter(body: str, fields: dict[str, str]) -> str:
    if not fields:
        return body
    return "\n".join(["---", *(f"{k}: {v}" for k, v in fields.items()), "---"]) + "\n" + body


def with_fallbacks(body: str, name: str, *, title: str | None, when: date | None) -> str:
    """The body behind a front matter block holding what it lacks (see `fallback_fields`)."""
    return with_front_matter(body, fallback_fields(body, name, title=title, when=when))


def page_starts(text: str | Sequence[str]) -> list[int]:
    """The 1-based line each page of a converted PDF starts on (from its front matter), else [].
    `text` is the note's text, or its lines."""
    lines = text.splitlines()[:80] if isinstance(text, str) else list(text[:80])
    front, _ = front_matter(lines)
    value = front.get(PAGES_KEY, "")
    return [int(n) for n in re.findall(r"\d+", value)]


def page_at(starts: Sequence[int], line: int) -> int | None:
    """The page 1-based `line` is on, given where the pages start (`page_starts`); None when the
    note has no pages. For many lines of one note: its front matter is read once."""
    if not starts:
        return None
    return max(1, bisect.bisect_right(starts, line))


def page_of(text: str, line: int) -> int | None:
    """The page of a converted PDF that 1-based `line` of its stored text is on (what a citation
    shows as "page N"); None for a note that has no pages."""
    return page_at(page_starts(text), line)
