"""Word documents (`.docx`, also what Google Docs downloads) as markdown-shaped notes.

Headings come from paragraph styles (`Title`, `Heading N`, or an outline level), list items and
their levels from Word numbering (`w:numPr`/`w:ilvl`, on the paragraph or its style), tables
become pipe tables, bold runs become `**…**`, and ☐/☒ checkboxes become `- [ ]`/`- [x]`. The core
properties (title, created) are the fallbacks for a body without a title or date. A Teams
transcript export is written as the transcript text the grammar already reads.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lxml import etree

from minutebook.core.errors import IngestError
from minutebook.ingest.formats.common import (
    Converted,
    MarkdownWriter,
    Segment,
    checked_zip,
    plain,
    render,
    with_fallbacks,
)
from minutebook.ingest.transcript import detect_format

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W = f"{{{_W}}}"
_CORE = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
}
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)
_LIST_STYLE = re.compile(r"^list\s*(bullet|number|continue)?\s*(\d)?$", re.I)
_OFF = {"0", "false", "off", "none"}
# Teams' older transcript export: "0:0:5.120 --> 0:0:9.400", the speaker, then what they said
_TEAMS_TIMING = re.compile(
    r"^\s*(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,3}))?\s*-->\s*(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,3}))?\s*$"
)
_SURNAME_FIRST = re.compile(r"^(?P<last>[A-Z][\w'’-]+),\s+(?P<first>[A-Z][\w'’ -]+)$")


@dataclass(frozen=True)
class _Style:
    name: str
    based_on: str | None
    num: tuple[str, int] | None  # (numId, ilvl) a list style carries
    outline: int | None


def _on(el: Any | None) -> bool:
    return el is not None and el.get(f"{W}val", "true").lower() not in _OFF


def _styles(doc: Any) -> dict[str, _Style]:
    styles: dict[str, _Style] = {}
    for el in doc.styles.element.iterchildren(f"{W}style"):
        sid = el.get(f"{W}styleId") or ""
        name_el, based = el.find(f"{W}name"), el.find(f"{W}basedOn")
        num_pr = el.find(f"{W}pPr/{W}numPr")
        outline = el.find(f"{W}pPr/{W}outlineLvl")
        styles[sid] = _Style(
            name=(name_el.get(f"{W}val") if name_el is not None else sid) or sid,
            based_on=based.get(f"{W}val") if based is not None else None,
            num=_num_of(num_pr),
            outline=int(outline.get(f"{W}val", "9")) if outline is not None else None,
        )
    return styles


def _num_of(num_pr: Any | None) -> tuple[str, int] | None:
    if num_pr is None:
        return None
    num_id, ilvl = num_pr.find(f"{W}numId"), num_pr.find(f"{W}ilvl")
    nid = num_id.get(f"{W}val") if num_id is not None else None
    level = int(ilvl.get(f"{W}val", "0")) if ilvl is not None else 0
    return (nid, level) if nid and nid != "0" else None


def _formats(doc: Any) -> dict[tuple[str, int], str]:
    """(numId, level) → the level's number format (bullet, decimal, lowerLetter, …)."""
    try:
        numbering = doc.part.numbering_part.element
    except (KeyError, NotImplementedError, AttributeError):
        return {}
    abstract: dict[str, dict[int, str]] = {}
    for el in numbering.iterchildren(f"{W}abstractNum"):
        levels = {}
        for lvl in el.iterchildren(f"{W}lvl"):
            fmt = lvl.find(f"{W}numFmt")
            levels[int(lvl.get(f"{W}ilvl", "0"))] = fmt.get(f"{W}val", "bullet") if fmt is not None else "bullet"
        abstract[el.get(f"{W}abstractNumId") or ""] = levels
    found: dict[tuple[str, int], str] = {}
    for el in numbering.iterchildren(f"{W}num"):
        ref = el.find(f"{W}abstractNumId")
        levels = abstract.get(ref.get(f"{W}val") if ref is not None else "", {})
        for level, fmt in levels.items():
            found[(el.get(f"{W}numId") or "", level)] = fmt
    return found


class _Reader:
    def __init__(self, doc: Any) -> None:
        self.styles = _styles(doc)
        self.formats = _formats(doc)
        self.counters: dict[tuple[str, int], int] = {}

    def _chain(self, style_id: str | None) -> Iterator[_Style]:
        seen: set[str] = set()
        while style_id and style_id in self.styles and style_id not in seen:
            seen.add(style_id)
            style = self.styles[style_id]
            yield style
            style_id = style.based_on

    def kind(self, p: Any) -> tuple[str, int, str | None]:
        """("title" | "heading" | "item" | "text", level, numbering id) of a paragraph."""
        ppr = p.find(f"{W}pPr")
        style_el = ppr.find(f"{W}pStyle") if ppr is not None else None
        style_id = style_el.get(f"{W}val") if style_el is not None else None
        chain = list(self._chain(style_id))
        for style in chain:
            if style.name.lower() == "title":
                return "title", 1, None
            if m := _HEADING_STYLE.match(style.name):
                return "heading", int(m[1]), None
        outline = ppr.find(f"{W}outlineLvl") if ppr is not None else None
        level = int(outline.get(f"{W}val", "9")) if outline is not None else None
        level = level if level is not None else next((s.outline for s in chain if s.outline is not None), None)
        if level is not None and level < 9:
            return "heading", level + 1, None
        num = _num_of(ppr.find(f"{W}numPr") if ppr is not None else None)
        if num is None:  # numbering from the style: "List Bullet 2" is the second level, whatever its ilvl
            styled = next((s for s in chain if s.num), None)
            if styled is not None and styled.num is not None:
                named = _LIST_STYLE.match(styled.name)
                num = (styled.num[0], int(named[2]) - 1 if named and named[2] else styled.num[1])
        if num is not None:
            return "item", num[1], num[0]
        for style in chain:
            if m := _LIST_STYLE.match(style.name):
                kind = (m[1] or "bullet").lower()
                return "item", int(m[2] or 1) - 1, "#number" if kind == "number" else None
        return "text", 0, None

    def number(self, num_id: str | None, level: int) -> int | None:
        """The item's number in its list, or None for a bullet."""
        if num_id is None:
            return None
        fmt = "decimal" if num_id == "#number" else self.formats.get((num_id, level), "bullet")
        if fmt in ("bullet", "none"):
            return None
        for key in [k for k in self.counters if k[0] == num_id and k[1] > level]:
            del self.counters[key]  # a deeper list restarts under each new parent
        self.counters[(num_id, level)] = self.counters.get((num_id, level), 0) + 1
        return self.counters[(num_id, level)]


def _runs(p: Any) -> list[Segment]:
    """The paragraph's text as (text, bold) runs: hyperlinks, fields and content controls
    (Word's checkboxes) included, deleted text left out."""
    segments: list[Segment] = []
    for r in p.iter(f"{W}r"):
        if any(a.tag == f"{W}del" for a in r.iterancestors(f"{W}del", f"{W}p")):
            continue
        rpr = r.find(f"{W}rPr")
        bold = False
        if rpr is not None:
            style = rpr.find(f"{W}rStyle")
            bold = _on(rpr.find(f"{W}b")) or (style is not None and style.get(f"{W}val", "").lower() == "strong")
        parts: list[str] = []
        for child in r:
            if child.tag == f"{W}t":
                parts.append(child.text or "")
            elif child.tag in (f"{W}tab", f"{W}ptab"):
                parts.append(" ")
            elif child.tag in (f"{W}br", f"{W}cr"):
                parts.append("\n")
            elif child.tag == f"{W}noBreakHyphen":
                parts.append("-")
        if parts:
            segments.append(("".join(parts), bold))
    return segments


def _lines(segments: list[Segment]) -> list[list[Segment]]:
    """Runs split at line breaks (a `w:br` inside a paragraph)."""
    lines: list[list[Segment]] = [[]]
    for text, bold in segments:
        pieces = text.split("\n")
        for k, piece in enumerate(pieces):
            if k:
                lines.append([])
            lines[-1].append((piece, bold))
    return lines


def _blocks(body: Any) -> Iterator[Any]:
    """Paragraphs and tables in reading order; content controls (`w:sdt`) opened, not nested."""
    stack = [iter(body)]
    while stack:
        el = next(stack[-1], None)
        if el is None:
            stack.pop()
        elif el.tag in (f"{W}p", f"{W}tbl"):
            yield el
        elif el.tag in (f"{W}sdt", f"{W}sdtContent", f"{W}customXml", f"{W}ins"):
            stack.append(iter(el))


def _cell(tc: Any) -> str:
    return " ".join(plain(_runs(p)) for p in tc.iter(f"{W}p"))


def _table(tbl: Any) -> list[list[str]]:
    rows: list[list[str]] = []
    for tr in tbl.iterchildren(f"{W}tr"):
        cells: list[str] = []
        for tc in tr.iterchildren(f"{W}tc"):
            if tc.find(f"{W}tcPr/{W}vMerge") is not None and not tc.find(f"{W}tcPr/{W}vMerge").get(f"{W}val"):
                cells.append("")  # the continuation of a cell merged from above
            else:
                cells.append(_cell(tc))
            span = tc.find(f"{W}tcPr/{W}gridSpan")
            cells += [""] * (int(span.get(f"{W}val", "1")) - 1 if span is not None else 0)
        rows.append(cells)
    return rows


def _core(archive: Any) -> tuple[str | None, date | None]:
    """dc:title and dcterms:created, read from the package itself (python-docx would invent
    both for a document without them)."""
    try:
        root = etree.fromstring(archive.read("docProps/core.xml"), etree.XMLParser(resolve_entities=False))
    except (KeyError, etree.XMLSyntaxError, ValueError):
        return None, None
    title = root.findtext("dc:title", namespaces=_CORE)
    created_text = (root.findtext("dcterms:created", namespaces=_CORE) or "").strip()
    try:
        created = datetime.fromisoformat(created_text.replace("Z", "+00:00")).date() if created_text else None
    except ValueError:
        created = None
    return (title or "").strip() or None, created


def _seconds(h: str, m: str, s: str, ms: str | None) -> str:
    return f"{int(h):02d}:{int(m):02d}:{int(s):02d}.{(ms or '0').ljust(3, '0')}"


def _speaker(name: str) -> str:
    m = _SURNAME_FIRST.match(name.strip())
    return f"{m['first']} {m['last']}" if m else name.strip()


def _transcript(lines: list[str], title: str | None, created: date | None) -> str | None:
    """A Teams transcript export as WebVTT (timed cues) or as its own `Name  0:01:23` lines,
    which the grammar reads like a .vtt; None for a document that is not a transcript."""
    content = [ln.strip() for ln in lines if ln.strip()]
    timings = [k for k, ln in enumerate(content) if _TEAMS_TIMING.match(ln)]
    header_lines = [*([title] if title else []), *([created.isoformat()] if created else [])]
    if len(timings) >= 2:
        head = content[: timings[0]] or header_lines
        out = [f"WEBVTT - {head[0]}" if head else "WEBVTT", *head[1:], ""]
        for k, start in enumerate(timings):
            end = timings[k + 1] if k + 1 < len(timings) else len(content)
            m = _TEAMS_TIMING.match(content[start])
            assert m is not None
            body = content[start + 1 : end]
            if not body:
                continue
            speaker, said = (body[0], body[1:]) if len(body) > 1 else (None, body)
            voice = f"<v {_speaker(speaker)}>" if speaker else ""
            out += [f"{_seconds(*m.groups()[:4])} --> {_seconds(*m.groups()[4:])}", voice + " ".join(said), ""]
        return "\n".join(out)
    if detect_format("\n".join(content)) == "stamped":
        first_turn = next(k for k, ln in enumerate(content) if re.search(r"\d:\d\d\s*$", ln))
        head = [] if first_turn else header_lines
        return "\n".join([*head, *content]) + "\n"
    return None


def docx_to_note(data: bytes, name: str, *, max_bytes: int) -> Converted:
    """The document as note text; IngestError (naming the file) for a corrupt one or a zip bomb."""
    archive = checked_zip(data, name, max_bytes=max_bytes, required="word/document.xml")
    import docx  # python-docx: imported here, importing this module stays instant

    try:
        doc = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises whatever its parts raise: one line naming the file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IngestError(f"{name}: not a readable .docx ({reason})") from None
    title, created = _core(archive)
    reader = _Reader(doc)
    out = MarkdownWriter()
    raw: list[str] = []
    has_title = any(reader.kind(p)[0] == "title" for p in doc.element.body.iterchildren(f"{W}p"))
    for block in _blocks(doc.element.body):
        if block.tag == f"{W}tbl":
            rows = _table(block)
            raw += [" ".join(r) for r in rows]
            out.table(rows)
            continue
        kind, level, num_id = reader.kind(block)
        segments = _runs(block)
        text = plain(segments)
        raw += [plain(line) for line in _lines(segments)]
        if not text:
            continue
        if kind == "title":
            out.heading(1, text)
        elif kind == "heading":
            out.heading(level + 1 if has_title else level, text)
        elif kind == "item":
            lines = _lines(segments)
            out.item(level, reader.number(num_id, level), render(lines[0]))
            for more in lines[1:]:
                out.continuation(render(more))
        else:
            out.paragraph("\n".join(render(line) for line in _lines(segments)))
    if (spoken := _transcript(raw, title, created)) is not None:
        return Converted(spoken, "docx")
    body = out.text()
    if not body.strip():
        raise IngestError(f"{name}: the document has no text")
    return Converted(with_fallbacks(body, name, title=title, when=created), "docx")
