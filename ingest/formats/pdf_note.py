"""PDF minutes as notes: the text layer, read with pypdf, laid out again from its positions.

pypdf's text visitor gives every run of text with its position, font and size. Runs on one
baseline make a line; a line clearly larger than the body text is a heading (the largest size
level 1, the next level 2, …); a bullet or number is a list item whose level is its indent among
the page's list indents; runs far apart on lines that line up make a pipe table. Page numbers
and running headers and footers are dropped. The line each page starts on is kept in the front
matter (`pages: 6, 41`), so a citation's line gives its page (`common.page_of`).

Refused, each with its reason: no text layer (a scan), encryption with a password, more pages
than MAX_PDF_PAGES, a page whose content stream is over MAX_PAGE_STREAM_BYTES, and a file pypdf
cannot read.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from minutebook.core.errors import IngestError
from minutebook.ingest.formats.common import (
    PAGES_KEY,
    Converted,
    MarkdownWriter,
    fallback_fields,
    render,
    with_front_matter,
)
from minutebook.ingest.grammar.notes import LIST_MARKER

MAX_PDF_PAGES = 2_000
# pypdf needs memory many times a page's content stream to read it (its docs: 10 GB for 300 MB);
# minutes pages are kilobytes. A bigger page is a drawing, a map or a trap: refused by size, not
# by a clock, so the outcome never depends on the machine.
MAX_PAGE_STREAM_BYTES = 8_000_000
HEADING_SIZE_RATIO = 1.15  # a line this much larger than the body text is a heading
MAX_HEADING_LEVELS = 3
_GLYPH_WIDTH = 0.5  # an average glyph's width in font sizes, when the font's own widths are unknown
_CELL_GAP = 1.0  # runs further apart than this many font sizes (a wide space) are separate table cells
# symbol-font bullets Word writes into PDFs (private use area): read as the bullet they draw
_PRIVATE_BULLETS = str.maketrans({"\uf0b7": "•", "\uf0a7": "▪", "\uf0d8": "•", "\uf076": "•", "\uf0fc": "✓"})
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)


@dataclass
class _Run:
    text: str
    x: float
    y: float
    size: float
    bold: bool
    width: float = 0.0  # on the page, in points

    @property
    def end(self) -> float:
        return self.x + (self.width or len(self.text) * self.size * _GLYPH_WIDTH)


class _Widths:
    """Glyph widths of the page's fonts (their /Widths, or the standard 14 fonts' metrics), read
    through pypdf's font reader; an estimate when a font cannot be read."""

    def __init__(self) -> None:
        self._fonts: dict[int, Any] = {}

    def of(self, font: Any, text: str, size: float) -> float:
        key = id(font)
        if key not in self._fonts:
            try:
                from pypdf.generic._font import Font  # no public API for glyph widths yet

                self._fonts[key] = Font.from_font_resource(font)
            except Exception:
                self._fonts[key] = None
        reader = self._fonts[key]
        if reader is None:
            return len(text) * size * _GLYPH_WIDTH
        try:
            return float(reader.get_text_width(text)) / 1000 * size
        except Exception:
            return len(text) * size * _GLYPH_WIDTH


@dataclass
class _Line:
    runs: list[_Run] = field(default_factory=list)

    @property
    def x(self) -> float:
        return self.runs[0].x

    @property
    def y(self) -> float:
        return self.runs[0].y

    @property
    def size(self) -> float:
        return max(r.size for r in self.runs)

    @property
    def text(self) -> str:
        return " ".join("".join(r.text for r in self.runs).split())

    def cells(self) -> list[tuple[float, str]]:
        """(x, text) of runs separated by wide gaps: a table row's cells."""
        cells: list[tuple[float, list[_Run]]] = []
        for run in self.runs:
            if cells and run.x - cells[-1][1][-1].end < _CELL_GAP * run.size:
                cells[-1][1].append(run)
            else:
                cells.append((run.x, [run]))
        return [(x, " ".join("".join(r.text for r in rs).split())) for x, rs in cells]


def _scale(m: list[float]) -> float:
    return math.sqrt(abs(m[0] * m[3] - m[1] * m[2])) or 1.0


def _page_lines(page: Any) -> list[_Line]:
    runs: list[_Run] = []
    widths = _Widths()

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if not text or not text.strip("\n"):
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        base = str((font or {}).get("/BaseFont", "")) if hasattr(font, "get") else ""
        bold = bool(re.search(r"bold|black|heavy|semibold", base, re.I))
        real = (size or 0) * _scale(tm) * _scale(cm)
        for k, piece in enumerate(text.split("\n")):
            if piece.strip():
                width = widths.of(font, piece, real) if hasattr(font, "get") else 0.0
                runs.append(_Run(piece.translate(_PRIVATE_BULLETS), x, y - k * real * 1.2, real, bold, width))

    page.extract_text(visitor_text=visit)
    lines: list[_Line] = []
    for run in runs:
        same = [ln for ln in lines[-3:] if abs(ln.y - run.y) < 0.4 * max(run.size, 1)]
        if same and run.x >= same[-1].runs[-1].x - 1:
            same[-1].runs.append(run)
        else:
            lines.append(_Line([run]))
    for ln in lines:
        ln.runs.sort(key=lambda r: r.x)
    return [ln for ln in lines if ln.text]


def _chrome(pages: list[list[_Line]]) -> set[str]:
    """Running headers and footers: a first or last line repeated on most pages."""
    if len(pages) < 3:
        return set()
    edges = Counter(t for lines in pages for t in {lines[0].text, lines[-1].text} if lines)
    return {t for t, n in edges.items() if n >= max(3, len(pages) // 2)}


def _levels(sizes: Counter[float], body: float) -> dict[float, int]:
    big = sorted({s for s in sizes if s >= body * HEADING_SIZE_RATIO}, reverse=True)
    return {s: min(k + 1, MAX_HEADING_LEVELS) for k, s in enumerate(big)}


def _is_table_row(line: _Line) -> bool:
    return len(line.cells()) >= 2


def _write_page(out: MarkdownWriter, lines: list[_Line], levels: dict[float, int]) -> None:
    indents = sorted({round(ln.x) for ln in lines if LIST_MARKER.match(ln.text)})
    left = min((ln.x for ln in lines), default=0.0)
    i = 0
    while i < len(lines):
        line = lines[i]
        level = next((lv for s, lv in levels.items() if abs(s - line.size) < 0.25), None)
        if level is not None and not LIST_MARKER.match(line.text):
            text = line.text
            while i + 1 < len(lines) and abs(lines[i + 1].size - line.size) < 0.25 and lines[i + 1].y < line.y:
                if _is_table_row(lines[i + 1]) or line.y - lines[i + 1].y > 1.6 * line.size:
                    break
                i += 1
                text += " " + lines[i].text  # a heading wrapped over two lines
            out.heading(level, text)
            i += 1
            continue
        # a table: two or more lines in a row whose cells line up
        if _is_table_row(line):
            xs = [x for x, _ in line.cells()]
            rows = [[t for _, t in line.cells()]]
            j = i + 1
            while j < len(lines) and len(lines[j].cells()) >= 2:
                cells = lines[j].cells()
                if not all(any(abs(cx - x) < 3 * lines[j].size for x in xs) for cx, _ in cells):
                    break
                columns = ["" for _ in xs]
                for cx, text in cells:
                    k = min(range(len(xs)), key=lambda n: abs(xs[n] - cx))
                    columns[k] = f"{columns[k]} {text}".strip()
                rows.append(columns)
                j += 1
            if len(rows) >= 2:
                out.table(rows)
                i = j
                continue
        text = render([(r.text, r.bold) for r in _spaced(line.runs)])
        if m := LIST_MARKER.match(line.text):
            depth = indents.index(round(line.x)) if round(line.x) in indents else 0
            marker = m["marker"]
            rest = LIST_MARKER.sub("", text, count=1) if LIST_MARKER.match(text) else text[len(m[0]) :]
            number = int(marker.rstrip(".)")) if marker.rstrip(".)").isdigit() else None
            if marker in "☐☑☒✓✔":
                rest = f"{marker} {rest}"
            out.item(depth, number, rest)
        elif out.in_list and line.x > left + 1:
            out.continuation(text)  # a wrapped list item's next line, under its text
        else:
            out.paragraph(text)
        i += 1


def _spaced(runs: list[_Run]) -> list[_Run]:
    """Runs with a space where they were apart on the page (pypdf gives each run its own text)."""
    spaced: list[_Run] = []
    for run in runs:
        apart = spaced and not spaced[-1].text.endswith(" ") and not run.text.startswith(" ")
        if apart and run.x - spaced[-1].end > 0.15 * run.size:
            run = _Run(" " + run.text, run.x, run.y, run.size, run.bold, run.width)
        spaced.append(run)
    return spaced


def _metadata(reader: Any) -> tuple[str | None, date | None]:
    try:
        meta = reader.metadata
    except Exception:  # a broken info dictionary is no reason to refuse the text
        return None, None
    if meta is None:
        return None, None
    title = None
    try:
        title = (meta.title or "").strip() or None
        created = meta.creation_date
    except Exception:
        created = None
    return title, created.date() if created else None


def pdf_to_note(data: bytes, name: str, *, max_bytes: int) -> Converted:
    """The PDF's text layer as note text, with its pages kept for citations."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as exc:
        raise IngestError(f"{name}: not a readable PDF ({_reason(exc)})") from None
    if encrypted:
        try:
            opened = reader.decrypt("")  # "owner password only" PDFs open without one
        except Exception as exc:
            raise IngestError(f"{name}: encrypted PDF that cannot be opened ({_reason(exc)})") from None
        if not opened:
            raise IngestError(f"{name}: encrypted PDF (password-protected); save a copy without the password first")
    try:
        count = len(reader.pages)
    except Exception as exc:
        raise IngestError(f"{name}: not a readable PDF ({_reason(exc)})") from None
    if count > MAX_PDF_PAGES:
        raise IngestError(f"{name}: refused, {count} pages is over the {MAX_PDF_PAGES}-page limit")
    pages: list[list[_Line]] = []
    total = 0
    for number in range(count):
        try:
            page = reader.pages[number]
            contents = page.get_contents()
            size = len(contents.get_data()) if contents is not None else 0
            if size > MAX_PAGE_STREAM_BYTES:
                raise IngestError(
                    f"{name}: refused, page {number + 1} has {size / 1e6:.1f} MB of drawing instructions "
                    f"(limit {MAX_PAGE_STREAM_BYTES / 1e6:.0f} MB)"
                )
            lines = _page_lines(page)
        except IngestError:
            raise
        except Exception as exc:
            raise IngestError(f"{name}: page {number + 1} cannot be read ({_reason(exc)})") from None
        total += sum(len(ln.text) for ln in lines)
        if total > max_bytes:
            raise IngestError(f"{name}: refused, its text is over the {max_bytes / 1e6:.1f} MB note limit")
        pages.append(lines)
    if not any(pages):
        raise IngestError(f"{name}: no text layer (scanned?); run OCR first")
    chrome = _chrome(pages)
    pages = [[ln for ln in lines if ln.text not in chrome and not _PAGE_NUMBER.match(ln.text)] for lines in pages]
    sizes: Counter[float] = Counter()
    for lines in pages:
        for ln in lines:
            sizes[round(ln.size, 1)] += len(ln.text)
    body = sizes.most_common(1)[0][0] if sizes else 0.0
    levels = _levels(sizes, body)
    out = MarkdownWriter()
    starts: list[int] = []
    for lines in pages:
        starts.append(out.page_break())
        _write_page(out, lines, levels)
    text = out.text()
    title, created = _metadata(reader)
    fields = fallback_fields(text, name, title=title, when=created)
    offset = len(fields) + 3  # the front matter's own lines: "---", its fields, "pages: …", "---"
    fields[PAGES_KEY] = ", ".join(str(start + offset + 1) for start in starts)
    return Converted(with_front_matter(text, fields), "pdf")


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200] or type(exc).__name__
