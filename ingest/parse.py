"""Meeting notes as people write them → title, date, attendees and a tree of sections.

Recognised headings: markdown `#`s, `=== BANNERS ===`, underlined (setext) headings, short
ALL-CAPS lines, short `Label:` lines that introduce a list, and list items that carry their
own nested list (`1. Infrastructure Costs:` with Owner/Due lines below) as sub-sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath

from minutebook.core.dates import date_from_filename, find_dates, first_date
from minutebook.ingest.transcript import TRANSCRIPT_EXTENSIONS, Turn, detect_format, parse_transcript

LIST_MARKER = re.compile(r"^(?P<indent>\s*)(?P<marker>[-*+•◦▪‣○●✓✔☐☑✅❌]|\d{1,3}[.)]|[a-z][.)]|\[[ xX✓]\])\s+")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_BANNER = re.compile(r"^\s*([=#*~]{2,})\s*(\S.*?)\s*\1\s*$")
_UNDERLINE = re.compile(r"^\s*(=+|-+|~+)\s*$")
_KEY_VALUE = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z /&-]{1,30}?)\s*:\s*(?P<value>\S.*)$")
_ATTENDEE_KEYS = {"attendees", "attendee", "present", "participants", "attendance", "who", "people"}
_DATE_KEYS = {"date", "when", "meeting date", "day"}
_ROLE = re.compile(r"^(?P<name>[^()]+?)\s*\((?P<role>[^)]+)\)\s*$")
_MAX_PSEUDO_HEADING_WORDS = 7


@dataclass(frozen=True)
class Line:
    number: int  # 0-based line index in the source
    text: str


@dataclass(frozen=True)
class Attendee:
    name: str
    role: str | None = None


@dataclass
class Section:
    path: tuple[str, ...]
    date: date | None
    lines: list[Line] = field(default_factory=list)
    heading_line: int | None = None

    @property
    def body(self) -> list[Line]:
        return self.lines


@dataclass
class ParsedNote:
    title: str
    date_start: date | None
    date_end: date | None
    attendees: list[Attendee]
    sections: list[Section]
    lines: list[str]
    title_line: int | None = None
    turns: list[Turn] = field(default_factory=list)  # transcripts: speaker turns, chunked on
    reference: date | None = None  # resolves yearless dates when the note itself has no date
    warnings: list[str] = field(default_factory=list)


def is_list_item(text: str) -> bool:
    return bool(LIST_MARKER.match(text))


def indent_of(text: str) -> int:
    expanded = text.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def strip_marker(text: str) -> str:
    return LIST_MARKER.sub("", text, count=1).strip()


def _clean_heading(text: str) -> str:
    text = re.sub(r"^\d{1,3}[.)]\s+", "", text.strip())
    text = re.sub(r"[*_`]{1,3}(.+?)[*_`]{1,3}", r"\1", text)
    return text.rstrip(":").strip()


def _is_all_caps_heading(text: str) -> bool:
    stripped = text.strip().rstrip(":")
    letters = [c for c in stripped if c.isalpha()]
    if len(letters) < 3 or is_list_item(text) or stripped.endswith((".", ",", ";")):
        return False
    if len(stripped.split()) > 8 or ":" in stripped:
        return False
    return all(c.isupper() for c in letters)


def _heading_at(lines: list[str], i: int) -> tuple[int, str, int] | None:
    """(level, heading text, lines consumed) when line i starts a heading."""
    text = lines[i]
    if not text.strip():
        return None
    if m := _ATX.match(text):
        return len(m[1]), _clean_heading(m[2]), 1
    if (m := _BANNER.match(text)) and any(c.isalpha() for c in m[2]):
        return 1, _clean_heading(m[2]), 1
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    if (
        (u := _UNDERLINE.match(nxt))
        and not is_list_item(text)
        and len(u[1]) >= 3
        and len(text.strip()) <= 80
        and indent_of(text) == 0
    ):
        return (1 if u[1][0] == "=" else 2), _clean_heading(text), 2
    if indent_of(text) == 0 and _is_all_caps_heading(text):
        return 2, _clean_heading(text), 1
    return None


def _next_nonblank(lines: list[str], i: int) -> int | None:
    for j in range(i + 1, len(lines)):
        if lines[j].strip():
            return j
    return None


def _is_label_heading(lines: list[str], i: int) -> bool:
    """`Engineering Team:` (or a bare `Next steps` after a blank line) alone on a line,
    introducing an indented block or a list."""
    text = lines[i]
    stripped = text.strip()
    if is_list_item(text) or indent_of(text) != 0 or not stripped[:1].isupper():
        return False
    if stripped.endswith(":"):
        if len(stripped.split()) > _MAX_PSEUDO_HEADING_WORDS:
            return False
    else:
        after_break = i == 0 or not lines[i - 1].strip()
        if not after_break or len(stripped.split()) > 4 or not re.search(r"[A-Za-z]$", stripped):
            return False
        if _KEY_VALUE.match(text):
            return False
    j = _next_nonblank(lines, i)
    return j is not None and j == i + 1 and (is_list_item(lines[j]) or indent_of(lines[j]) > 0)


def _item_heading(lines: list[str], i: int) -> str | None:
    """A list item that owns a nested list and reads like a title becomes a sub-section."""
    text = lines[i]
    m = LIST_MARKER.match(text)
    if not m:
        return None
    body = strip_marker(text)
    numbered = m["marker"][0].isdigit()
    if not (body.endswith(":") or numbered):
        return None
    if len(body.rstrip(":").split()) > _MAX_PSEUDO_HEADING_WORDS:
        return None
    j = _next_nonblank(lines, i)
    if j is None or indent_of(lines[j]) <= indent_of(text):
        return None
    return _clean_heading(body)


def split_attendees(value: str) -> list[Attendee]:
    people: list[Attendee] = []
    depth = 0
    current = ""
    for ch in value:  # split on commas/semicolons outside parentheses
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch in ",;" and depth == 0:
            people.extend(_attendee(current))
            current = ""
        else:
            current += ch
    people.extend(_attendee(current))
    return people


def _attendee(raw: str) -> list[Attendee]:
    raw = raw.strip().strip(".").lstrip("@").strip()
    raw = re.sub(r"^(and|&)\s+", "", raw, flags=re.IGNORECASE)
    if not raw:
        return []
    if " and " in raw and "(" not in raw:
        return [a for part in raw.split(" and ") for a in _attendee(part)]
    if m := _ROLE.match(raw):
        return [Attendee(m["name"].strip(), m["role"].strip())]
    for sep in (" - ", " – ", " — "):
        if sep in raw:
            name, role = raw.split(sep, 1)
            return [Attendee(name.strip(), role.strip())]
    return [Attendee(raw)]


def _title(lines: list[str], filename: str | None) -> tuple[str, int | None]:
    for i, text in enumerate(lines):
        if not text.strip():
            continue
        if m := _ATX.match(text):
            return _clean_heading(m[2]), i
        if (m := _BANNER.match(text)) and i == 0:
            return _clean_heading(m[2]), i
        kv = _KEY_VALUE.match(text)
        if kv and kv["key"].strip().lower() in (_ATTENDEE_KEYS | _DATE_KEYS | {"title", "subject", "meeting"}):
            if kv["key"].strip().lower() in {"title", "subject", "meeting"}:
                return kv["value"].strip(), i
            break
        if len(text.strip()) <= 120 and not is_list_item(text):
            return _clean_heading(text), i
        break
    if filename:
        stem = PurePath(filename).stem
        stem = re.sub(r"^\d{4}[-_.]?\d{2}[-_.]?\d{2}[-_ ]*", "", stem)
        return (stem.replace("-", " ").replace("_", " ").strip() or PurePath(filename).stem), None
    return "Untitled meeting", None


def _meeting_dates(
    lines: list[str], title: str, filename: str | None, reference: date | None
) -> tuple[date | None, date | None]:
    from_name = date_from_filename(PurePath(filename).name) if filename else None
    ref = from_name or reference
    head = lines[:25]
    for text in head:  # an explicit "Date: ..." line wins
        kv = _KEY_VALUE.match(text)
        if kv and kv["key"].strip().lower() in _DATE_KEYS and (d := first_date(kv["value"], ref)):
            return d.start, d.end
    mention = first_date(title, ref)
    if mention and (mention.has_year or ref):
        return mention.start, mention.end
    for text in head:
        for d in find_dates(text):
            if d.has_year:
                return d.start, d.end
    if from_name:
        return from_name, from_name
    return None, None


def _attendees(lines: list[str]) -> list[Attendee]:
    found: list[Attendee] = []
    for i, text in enumerate(lines):
        kv = _KEY_VALUE.match(text)
        if kv and kv["key"].strip().lower() in _ATTENDEE_KEYS and not is_list_item(text):
            found.extend(split_attendees(kv["value"]))
            continue
        heading = _heading_at(lines, i)
        label = text.strip().rstrip(":").strip().lower() if _is_label_heading(lines, i) else None
        name = heading[1].lower() if heading else label
        if name in _ATTENDEE_KEYS:
            j = i + (heading[2] if heading else 1)
            while j < len(lines) and (is_list_item(lines[j]) or not lines[j].strip()):
                if lines[j].strip():
                    found.extend(split_attendees(strip_marker(lines[j])))
                elif j + 1 < len(lines) and not is_list_item(lines[j + 1]):
                    break
                j += 1
    unique: dict[str, Attendee] = {}
    for a in found:
        if a.name and len(a.name) <= 80:
            unique.setdefault(a.name.lower(), a)
    return list(unique.values())


_SPEAKER_TURN = re.compile(r"^(?P<speaker>[A-Z][\w.'’-]*(?: [A-Z0-9][\w.'’-]*){0,3}):\s+\S")


def is_speaker_transcript(lines: list[str]) -> bool:
    """One speaker turn per line (`Speaker: text`), as transcript exports and QMSum write them."""
    content = [ln for ln in lines if ln.strip()]
    if len(content) < 5:
        return False
    turns = [m["speaker"] for ln in content if (m := _SPEAKER_TURN.match(ln))]
    return len(turns) >= 0.8 * len(content) and len(set(turns)) <= max(2, len(turns) // 3)


def _parse_speaker_transcript(lines: list[str], filename: str | None, reference: date | None) -> ParsedNote:
    stem = PurePath(filename).stem if filename else "Transcript"
    title = re.sub(r"^\d{4}[-_.]?\d{2}[-_.]?\d{2}[-_ ]*", "", stem).replace("-", " ").replace("_", " ").strip()
    when = date_from_filename(PurePath(filename).name) if filename else None
    speakers = list(dict.fromkeys(m["speaker"] for ln in lines if (m := _SPEAKER_TURN.match(ln))))
    section = Section(path=(), date=when, lines=[Line(i, t) for i, t in enumerate(lines)])
    return ParsedNote(
        title=title or stem,
        date_start=when,
        date_end=when,
        attendees=[Attendee(s) for s in speakers],
        sections=[section] if any(t.strip() for t in lines) else [],
        lines=lines,
        title_line=None,
    )


def _parse_timed_transcript(
    text: str, filename: str | None, reference: date | None, modified: date | None
) -> ParsedNote:
    name = filename or "transcript"
    transcript = parse_transcript(text, name)
    lines = text.lstrip("\ufeff").splitlines()
    stem = PurePath(name).stem
    header = " ".join(transcript.header).strip()
    # a date in the file name, else in the header or NOTE lines, else the file's own time
    when, warnings = date_from_filename(PurePath(name).name), []
    if when is None and header and (mention := first_date(header, reference)):
        when = mention.start
    if when is None and modified is not None:
        when = modified
        warnings.append(f"{name}: no meeting date in the name or header; using the file's date {modified}")
    if when is None:
        warnings.append(f"{name}: no meeting date found (file name, header or file time); stored undated")
    label = re.sub(r"^\d{4}[-_.]?\d{2}[-_.]?\d{2}[-_ ]*", "", stem).replace("-", " ").replace("_", " ").strip()
    title = transcript.header[0] if transcript.header and transcript.header[0] else (label or stem)
    section = Section(path=(), date=when, lines=[Line(i, t) for i, t in enumerate(lines)])
    return ParsedNote(
        title=title,
        date_start=when,
        date_end=when,
        attendees=[Attendee(s) for s in transcript.speakers],
        sections=[section],
        lines=lines,
        turns=transcript.turns,
        reference=when or reference,
        warnings=warnings,
    )


def parse_note(
    text: str, filename: str | None = None, reference: date | None = None, modified: date | None = None
) -> ParsedNote:
    """Parse one note. `reference` (e.g. today) resolves yearless dates when the note has none;
    `modified` (the file's time) dates a transcript that says nothing else."""
    if (filename and PurePath(filename).suffix.lower() in TRANSCRIPT_EXTENSIONS) or detect_format(text):
        return _parse_timed_transcript(text, filename, reference, modified)
    lines = text.splitlines()
    if is_speaker_transcript(lines):
        return _parse_speaker_transcript(lines, filename, reference)
    title, title_line = _title(lines, filename)
    date_start, date_end = _meeting_dates(lines, title, filename, reference)
    year_ref = date_start or reference

    sections: list[Section] = [Section(path=(), date=date_start)]
    stack: list[tuple[int, str, date | None]] = []  # real headings: (level, text, date)
    pseudo: tuple[str, date | None, int] | None = None  # (text, date, indent that ends it)
    title_is_h1 = title_line is not None and bool(_ATX.match(lines[title_line]))

    def open_section(heading_line: int) -> None:
        path = tuple(h[1] for h in stack) + ((pseudo[0],) if pseudo else ())
        when = pseudo[1] if pseudo and pseudo[1] else next((h[2] for h in reversed(stack) if h[2]), date_start)
        sections.append(Section(path=path, date=when, heading_line=heading_line))

    def heading_date(heading: str, parent: date | None) -> date | None:
        mention = first_date(heading, year_ref)
        return mention.start if mention else parent

    i = 0
    while i < len(lines):
        text = lines[i]
        if i == title_line:
            i += 1
            continue
        # a pseudo-section opened by a list item ends at the next line as shallow as that item
        if pseudo and text.strip() and pseudo[2] >= 0 and indent_of(text) <= pseudo[2]:
            pseudo = None
            open_section(i)
        heading = _heading_at(lines, i)
        if heading and not (title_is_h1 and heading[0] == 1 and not stack and i < (title_line or 0)):
            level, name, consumed = heading
            if title_is_h1:
                level = max(1, level - 1)  # the H1 is the title, not a section
            while stack and stack[-1][0] >= level:
                stack.pop()
            parent_date = next((h[2] for h in reversed(stack) if h[2]), None)
            stack.append((level, name, heading_date(name, parent_date)))
            pseudo = None
            open_section(i)
            i += consumed
            continue
        if _is_label_heading(lines, i):
            parent_date = next((h[2] for h in reversed(stack) if h[2]), None)
            pseudo = (_clean_heading(text), heading_date(text, parent_date), -1)
            open_section(i)
            i += 1
            continue
        if (item_name := _item_heading(lines, i)) is not None:
            parent_date = next((h[2] for h in reversed(stack) if h[2]), None)
            pseudo = (item_name, heading_date(item_name, parent_date), indent_of(text))
            open_section(i)
            i += 1
            continue
        if pseudo and pseudo[2] < 0 and not text.strip():
            # a label's block ends at a blank line followed by unindented prose
            j = _next_nonblank(lines, i)
            if j is not None and indent_of(lines[j]) == 0 and not is_list_item(lines[j]):
                pseudo = None
                open_section(j)
        sections[-1].lines.append(Line(i, text))
        i += 1

    kept = [s for s in sections if any(line.text.strip() for line in s.lines)]
    return ParsedNote(
        title=title,
        date_start=date_start,
        date_end=date_end,
        attendees=_attendees(lines),
        sections=kept,
        lines=lines,
        title_line=title_line,
    )
