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

from minutebook.core.dates import (
    DateMention,
    NumericOrder,
    ParseBudget,
    date_from_filename,
    find_dates,
    first_date,
)
from minutebook.ingest.attendance import (
    Attendance,
    Attendee,
    collect,
)
from minutebook.ingest.grammar.notes import (
    LIST_MARKER,
    PRESENT_LABELS_ALONE,
    attendance_label,
    is_list_item,
    label_value,
    strip_list_marker,
)
from minutebook.ingest.transcript import TRANSCRIPT_EXTENSIONS, Turn, detect_format, parse_transcript

_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_BANNER_MARKS = "=#*~"
_UNDERLINE = re.compile(r"^\s*(=+|-+|~+)\s*$")
_KEY_VALUE = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z /&-]{1,30}?)\s*:\s*(?P<value>\S.*)$")
_DATE_KEYS = {"date", "when", "meeting date", "day"}
_MAX_PSEUDO_HEADING_WORDS = 7


Day = date  # `Section.date` shadows the type inside the class


@dataclass(frozen=True)
class Line:
    number: int  # 0-based line index in the source
    text: str


@dataclass
class Section:
    path: tuple[str, ...]
    date: date | None
    lines: list[Line] = field(default_factory=list)
    heading_line: int | None = None
    date_end: Day | None = None  # a section about a span (a range, a month) ends here

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
    date_precision: str | None = None  # a Precision: day | range | month | quarter
    date_text: str | None = None  # the date as the note (or the user) wrote it
    date_source: str | None = None  # where it was read: given | front matter | date line | title | …
    date_order: NumericOrder | None = None  # the day/month order this note's numeric dates show (set at ingest)
    # the parse work this note may still cost: extraction charges the same budget as parsing
    budget: ParseBudget | None = field(default=None, repr=False, compare=False)


def budget_of(note: ParsedNote) -> ParseBudget:
    """The note's parse budget (a fresh one for a note built by hand rather than by parse_note)."""
    if note.budget is None:
        note.budget = ParseBudget("note", sum(len(line) + 1 for line in note.lines))
    return note.budget


def _banner(text: str) -> str | None:
    """The title of an `=== BANNER ===` line: what `^\\s*([=#*~]{2,})\\s*(\\S.*?)\\s*\\1\\s*$` captures as
    group 2, the longest opening run tried first; worked out directly, as that regex retries every
    split of a long run of marks (cubic: a 8,000-character line of `*` took 30 s)."""
    opened = text.lstrip()
    body = opened.rstrip()
    run = len(opened) - len(opened.lstrip(_BANNER_MARKS))
    for size in range(min(run, (len(body) - 1) // 2), 1, -1):  # a title needs room between the marks
        if body.endswith(opened[:size]) and (title := body[size:-size].strip()):
            return title
    return None


def indent_of(text: str) -> int:
    expanded = text.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


strip_marker = strip_list_marker


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
    if (banner := _banner(text)) and any(c.isalpha() for c in banner):
        return 1, _clean_heading(banner), 1
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


Following = list[int | None]  # for each line, the next non-blank line after it


def _following(lines: list[str]) -> Following:
    """The next non-blank line after each line, in one backward pass (a search per line is
    quadratic in a run of blank lines)."""
    following: Following = [None] * len(lines)
    nxt: int | None = None
    for j in range(len(lines) - 1, -1, -1):
        following[j] = nxt
        if lines[j].strip():
            nxt = j
    return following


def _is_label_heading(lines: list[str], i: int, following: Following) -> bool:
    """`Engineering Team:` (or a bare `Next steps` after a blank line) alone on a line,
    introducing an indented block or a list."""
    text = lines[i]
    stripped = text.strip()
    handle = re.fullmatch(r"[*_]*@[\w.-]+[*_]*:?", stripped)  # a standup's "@olizilla" over their list
    if is_list_item(text) or indent_of(text) != 0 or not (stripped[:1].isupper() or handle):
        return False
    if stripped.endswith(":"):
        if len(stripped.split()) > _MAX_PSEUDO_HEADING_WORDS:
            return False
    else:
        after_break = i == 0 or not lines[i - 1].strip()
        if not after_break or len(stripped.split()) > 4 or not re.search(r"[A-Za-z0-9_*]$", stripped):
            return False
        if _KEY_VALUE.match(text):
            return False
    j = following[i]
    near = j is not None and (j == i + 1 or (handle is not None and j == i + 2))  # "@lidel", a blank, the list
    return near and j is not None and (is_list_item(lines[j]) or indent_of(lines[j]) > 0)


def _item_heading(lines: list[str], i: int, following: Following) -> str | None:
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
    j = following[i]
    if j is None or indent_of(lines[j]) <= indent_of(text):
        return None
    return _clean_heading(body)


_LINK_ONLY = re.compile(r"^(?:\[[^\]]*\]\([^)]*\)|<?https?://\S+>?|\[[^\]]*\]\[[^\]]*\])[\s.,;]*$")
_URL_VALUE = re.compile(r"^\s*[A-Za-z][\w /-]{0,30}:\s*<?https?://\S+>?\s*$")
_TOC_LABEL = re.compile(r"^(?:table of contents|contents|toc)$", re.I)


def front_matter(lines: list[str]) -> tuple[dict[str, str], int]:
    """YAML front matter's flat `key: value` fields and the first line after it ({} and 0 without)."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    fields: dict[str, str] = {}
    for i in range(1, min(len(lines), 80)):
        text = lines[i]
        if text.strip() in ("---", "..."):
            return fields, i + 1
        if (m := re.match(r"^([A-Za-z_][\w -]*):\s*(.*?)\s*$", text)) and not text.startswith(" "):
            fields[m[1].strip().lower()] = m[2].strip().strip("\"'")
    return {}, 0


def _is_scaffolding(lines: list[str], i: int, in_comment: bool) -> bool:
    """Lines that are not the note's words: comments, link-only lines, a table of contents,
    `Agenda: <url>` pointers."""
    text = lines[i].strip()
    body = strip_marker(text) if is_list_item(text) else text
    body = re.sub(r"^[*_]{1,3}(.+?)[*_]{1,3}$", r"\1", body).rstrip(":").strip()
    return (
        in_comment
        or text.startswith("<!--")
        or bool(_LINK_ONLY.match(body))
        or bool(_URL_VALUE.match(body))
        or bool(_TOC_LABEL.match(body))
    )


def _title(lines: list[str], filename: str | None, start: int = 0) -> tuple[str, int | None]:
    in_comment = False
    for i in range(start, len(lines)):
        text = lines[i]
        if not text.strip():
            continue
        opens = "<!--" in text and "-->" not in text.split("<!--", 1)[1]
        if _is_scaffolding(lines, i, in_comment):
            in_comment = (in_comment or opens) and "-->" not in (text if in_comment else text.split("<!--", 1)[1])
            continue
        if m := _ATX.match(text):
            return _clean_heading(m[2]), i
        if (banner := _banner(text)) and i == start:
            return _clean_heading(banner), i
        kv = _KEY_VALUE.match(text)
        if kv and (
            attendance_label(kv["key"]) or kv["key"].strip().lower() in (_DATE_KEYS | {"title", "subject", "meeting"})
        ):
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


_HEAD_LINES = 25  # the header a meeting date is looked for in
_FIRST_HEADINGS = 3
_UNDATED = (
    "no meeting date in its front matter, title, first headings, header or file name; stored undated "
    "(give one with `ingest --date` or `minutebook meetings set-date`)"
)


@dataclass(frozen=True)
class MeetingDate:
    mention: DateMention | None
    source: str | None
    warnings: tuple[str, ...] = ()


def _meeting_date(
    lines: list[str],
    *,
    body_start: int,
    front: dict[str, str],
    title: str,
    title_line: int | None,
    filename: str | None,
    reference: date | None,
    order: NumericOrder | None,
) -> MeetingDate:
    """Where a date stands decides which one is the meeting's: front matter, then a `Date:` line,
    the title, the first headings, the file name, and only then any dated header line. A month or
    quarter is narrowed to the one day a date line or the file name names inside it."""
    name = PurePath(filename).name if filename else "note"
    from_name = date_from_filename(name) if filename else None
    ref = from_name or reference

    def dates(text: str, *, coarse: bool = True) -> list[DateMention]:
        return find_dates(text, ref, coarse=coarse, numeric_order=order)

    head = [(i, lines[i]) for i in range(body_start, min(len(lines), body_start + _HEAD_LINES))]
    early = range(body_start, min(len(lines), body_start + 60))
    headings = [(i, h[1]) for i in early if i != title_line and (h := _heading_at(lines, i))][:_FIRST_HEADINGS]
    places: list[tuple[str, list[DateMention]]] = []
    front_value = next((front[k] for k in ("date", "when", "meeting date") if front.get(k)), None)
    if front_value:
        places.append(("front matter", dates(front_value)))
    date_lines = [kv[1] for _, text in head if (kv := label_value(text)) and kv[0].lower() in _DATE_KEYS and kv[1]]
    places.append(("date line", [d for v in date_lines for d in dates(v)]))
    places.append(("title", [d for d in dates(title) if d.has_year or ref]))
    places.append(("heading", [d for _, h in headings for d in dates(h) if d.has_year]))
    if from_name:
        places.append(("file name", [DateMention(from_name, from_name, name, (0, 0), True)]))
    places.append(("header", [d for _, t in head for d in dates(t, coarse=False) if d.has_year]))

    chosen: tuple[str, DateMention] | None = next(((src, found[0]) for src, found in places if found), None)
    if chosen is None:
        return MeetingDate(None, None, (f"{name}: {_UNDATED}",))
    source, mention = chosen
    if mention.precision in ("month", "quarter"):
        inside = {
            (d.start, d.end): d
            for src, found in places
            if src != source and src in ("front matter", "date line", "file name")
            for d in found
            if d.precision == "day" and mention.start <= d.start <= mention.end
        }
        if len(inside) == 1:
            mention = next(iter(inside.values()))
    warnings: tuple[str, ...] = ()
    if mention.ambiguous:
        warnings = (
            f"{name}: the date {mention.text!r} fits both day/month orders and nothing in this tenant's notes "
            f"decides between them; stored month-first as {mention.start:%d %B %Y} "
            "(fix with `minutebook meetings set-date`)",
        )
    return MeetingDate(mention, source, warnings)


def _attendance(lines: list[str]) -> Attendance:
    """Attendance blocks (a heading, label or list item named for it, then its lines) and inline
    `Present: a, b` / `**Attendees:** a, b` / `Regrets: c` lines."""
    inline: list[tuple[str, str]] = []
    following = _following(lines)
    headings = [_heading_at(lines, i) for i in range(len(lines))]
    # line opening a block → (its first line, the indent its lines must exceed, whether it lists absentees)
    starts: dict[int, tuple[int, int, bool]] = {}
    for i, text in enumerate(lines):
        if not text.strip():
            continue
        listed = is_list_item(text)
        kv = label_value(text)
        if kv and kv[1] and attendance_label(kv[0]) and not (listed and kv[0].lower() in PRESENT_LABELS_ALONE):
            inline.append((kv[0], kv[1]))
            continue
        heading = headings[i]
        if heading:
            name: str | None = heading[1]
        elif listed:  # "- **Attendees:**" with the people nested under it
            body = strip_marker(text)
            name = body if body.rstrip("*_ ").endswith(":") else None
        else:
            name = text if _is_label_heading(lines, i, following) or text.strip().endswith(":") else None
        if name is not None and (said := attendance_label(name)):
            starts[i] = (i + (heading[2] if heading else 1), indent_of(text) if listed else -1, said == "absent")
    blocks: list[tuple[list[str], bool]] = []
    for first, floor, absent in starts.values():
        block: list[str] = []
        j = first
        # a block also ends where another one starts: that one reads the rest (an indented
        # "Attendees:" inside a block would otherwise have every block re-read all that follows)
        while j < len(lines) and headings[j] is None and j not in starts:
            line = lines[j]
            if line.strip():
                if floor >= 0 and indent_of(line) <= floor:
                    break  # back out of the list item that opened the block
                if not (is_list_item(line) or indent_of(line) > 0 or _KEY_VALUE.match(line)) and block:
                    break
                block.append(line)
            elif block and j + 1 < len(lines) and lines[j + 1].strip() and not is_list_item(lines[j + 1]):
                break
            j += 1
        blocks.append((block, absent))
    return collect(blocks, inline)


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


Span = tuple[date, date] | None


def _dated_as_given(note: ParsedNote, given: DateMention | None) -> ParsedNote:
    """A transcript has one section and no dated headings: the given date simply replaces its own."""
    if given is None:
        if note.date_start is not None:
            note.date_precision, note.date_source = "day", note.date_source or "file"
        return note
    note.date_start, note.date_end = given.start, given.end
    note.date_precision, note.date_text, note.date_source = given.precision, given.text, "given"
    note.warnings = [w for w in note.warnings if "no meeting date" not in w]
    for section in note.sections:
        section.date, section.date_end = given.start, given.end
    return note


def _section(path: tuple[str, ...], when: Span, heading_line: int | None = None) -> Section:
    return Section(
        path=path,
        date=when[0] if when else None,
        date_end=when[1] if when else None,
        heading_line=heading_line,
    )


def parse_note(
    text: str,
    filename: str | None = None,
    reference: date | None = None,
    modified: date | None = None,
    *,
    given: DateMention | None = None,
    numeric_order: NumericOrder | None = None,
) -> ParsedNote:
    """Parse one note. `reference` (e.g. today) resolves yearless dates when the note has none;
    `modified` (the file's time) dates a transcript that says nothing else; `given` is a date the
    user stated for this note, which wins over anything in it; `numeric_order` is the tenant's
    day/month order for numeric dates that fit both."""
    budget = ParseBudget(PurePath(filename).name if filename else "note", len(text))
    with budget.active():
        note = _parse(text, filename, reference, modified, given=given, numeric_order=numeric_order)
    note.budget = budget
    return note


def _parse(
    text: str,
    filename: str | None,
    reference: date | None,
    modified: date | None,
    *,
    given: DateMention | None,
    numeric_order: NumericOrder | None,
) -> ParsedNote:
    if (filename and PurePath(filename).suffix.lower() in TRANSCRIPT_EXTENSIONS) or detect_format(text):
        return _dated_as_given(_parse_timed_transcript(text, filename, reference, modified), given)
    lines = text.splitlines()
    if is_speaker_transcript(lines):
        return _dated_as_given(_parse_speaker_transcript(lines, filename, reference), given)
    front, body_start = front_matter(lines)
    title, title_line = (front["title"], None) if front.get("title") else _title(lines, filename, body_start)
    dated = (
        MeetingDate(given, "given")
        if given is not None
        else _meeting_date(
            lines,
            body_start=body_start,
            front=front,
            title=title,
            title_line=title_line,
            filename=filename,
            reference=reference,
            order=numeric_order,
        )
    )
    mention = dated.mention
    meeting_span: Span = (mention.start, mention.end) if mention else None
    date_start = mention.start if mention else None
    year_ref = date_start or reference

    sections: list[Section] = [_section((), meeting_span)]
    stack: list[tuple[int, str, Span]] = []  # real headings: (level, text, dates)
    pseudo: tuple[str, Span, int] | None = None  # (text, dates, indent that ends it)
    label: tuple[str, Span] | None = None  # a label heading ("Engineering:", "@olizilla") an item heading sits under
    title_is_h1 = title_line is not None and bool(_ATX.match(lines[title_line]))
    following = _following(lines)

    def inherited() -> Span:
        return next((h[2] for h in reversed(stack) if h[2]), None)

    def open_section(heading_line: int) -> None:
        path = tuple(h[1] for h in stack) + ((label[0],) if label else ()) + ((pseudo[0],) if pseudo else ())
        when = (pseudo[1] if pseudo else None) or (label[1] if label else None) or inherited() or meeting_span
        sections.append(_section(path, when, heading_line))

    def heading_date(heading: str, parent: Span) -> Span:
        found = first_date(heading, year_ref)
        return (found.start, found.end) if found else parent

    i = body_start
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
            stack.append((level, name, heading_date(name, inherited())))
            pseudo = label = None
            open_section(i)
            i += consumed
            continue
        if _is_label_heading(lines, i, following):
            label, pseudo = (_clean_heading(text), heading_date(text, inherited())), None
            open_section(i)
            i += 1
            continue
        if (item_name := _item_heading(lines, i, following)) is not None:
            pseudo = (item_name, heading_date(item_name, inherited()), indent_of(text))
            open_section(i)
            i += 1
            continue
        if label and not pseudo and not text.strip():
            # a label's block ends at a blank line followed by unindented prose
            j = following[i]
            if j is not None and indent_of(lines[j]) == 0 and not is_list_item(lines[j]):
                label = None
                open_section(j)
        sections[-1].lines.append(Line(i, text))
        i += 1

    kept = [s for s in sections if any(line.text.strip() for line in s.lines)]
    attendance = _attendance(lines)
    if attendance.unparsed:
        shown = "; ".join(repr(u[:60]) for u in attendance.unparsed[:5])
        more = f" and {len(attendance.unparsed) - 5} more" if len(attendance.unparsed) > 5 else ""
        warnings_extra = [f"{filename or 'note'}: attendance entries not read as people: {shown}{more}"]
    else:
        warnings_extra = []
    return ParsedNote(
        title=title,
        date_start=date_start,
        date_end=mention.end if mention else None,
        date_precision=mention.precision if mention else None,
        date_text=mention.text if mention else None,
        date_source=dated.source,
        warnings=[*dated.warnings, *warnings_extra],
        attendees=attendance.present,
        sections=kept,
        lines=lines,
        title_line=title_line,
    )
