"""Who was at a meeting, in the shapes people write it down.

An attendance block is a heading or label named for it (Attendees, Attendance, Attending, Present,
Participants …) followed by lines or list items, or a single `Present: a, b` line. Each line may
open with its own group label ("Team members:", "Others:", "Guests:"); "Regrets:"/"Absent:" lines
name people who were *not* there. Each entry is a name, a handle or both, with an affiliation or
role after a dash or in parentheses:

    * Jane Q. Doe @jqdoe (voting member)      → Jane Q. Doe, handle jqdoe, role "voting member"
    * Gary Guo (nbdd0121)                     → Gary Guo, handle nbdd0121
    * Team members: nikomatsakis, Taylor      → nikomatsakis, Taylor (group "team members")
    * @rust-lang/lang                         → a team

What cannot be read as people is reported, not dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minutebook.ingest.grammar.notes import CHECKBOX, LINK, ORG_WORDS, PROXY, attendance_label, strip_list_marker

_GROUP_LABEL = re.compile(r"^(?P<label>[A-Za-z][A-Za-z /-]{0,30}?)\s*:\s*(?P<rest>.*)$")
_HANDLE = r"@?[A-Za-z0-9][\w.-]*"
_TEAM_HANDLE = re.compile(r"^@[\w.-]+/[\w.-]+$")
_NAME_TOKEN = re.compile(r"^(?:[A-Z][\w'’.-]*|[a-z]{1,3}|d['’][A-Z]\w*|Mc[A-Z]\w*)$")  # "van", "de", "d'Arc"
_HANDLE_ONLY = re.compile(r"^@?[A-Za-z][\w.-]{1,38}$")
_NOTE_WORDS = re.compile(r"\b(late|left|early|partial|minutes?|min|first|last|joined|dropped|part)\b", re.I)
_MAX_NAME_TOKENS = 5
_ASIDE = re.compile(r"(?<!\s)\s*\([^()]*\)")  # a run of spaces is tried from its start only: linear


@dataclass(frozen=True)
class Attendee:
    name: str
    role: str | None = None
    handle: str | None = None  # "jqdoe" for "Jane Q. Doe @jqdoe"
    kind: str = "person"  # person | team
    group: str | None = None  # the line's own label: "team members", "others"


@dataclass
class Attendance:
    present: list[Attendee]
    absent: list[Attendee]
    unparsed: list[str]


_AND = re.compile(r"(?<!\s)\s+(?:and|&)\s+")  # tried from a run's start only: linear


def _split_and(part: str) -> list[str]:
    """`part` split at "and"/"&" outside parentheses: what `re.split(r"\\s+(?:and|&)\\s+(?![^()]*\\))")`
    does, without that lookahead reading to the next parenthesis after every "and" (quadratic)."""
    next_paren: list[str] = [""] * (len(part) + 1)  # the first "(" or ")" at or after each position
    for k in range(len(part) - 1, -1, -1):
        next_paren[k] = part[k] if part[k] in "()" else next_paren[k + 1]
    pieces: list[str] = []
    start = 0
    for m in _AND.finditer(part):
        if next_paren[m.end()] != ")":
            pieces.append(part[start : m.start()])
            start = m.end()
    pieces.append(part[start:])
    return pieces


def _split(value: str) -> list[str]:
    """Entries separated by commas, semicolons or "and", outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in value:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch in ",;" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    out: list[str] = []
    for part in parts:
        out.extend(p for p in _split_and(part) if p.strip())
    return [re.sub(r"^(?:and|&)\s+", "", p.strip(), flags=re.I) for p in out if p.strip()]


def _is_name(text: str) -> bool:
    tokens = text.split()
    if not tokens or len(tokens) > _MAX_NAME_TOKENS:
        return False
    if len(tokens) == 1:
        return bool(_HANDLE_ONLY.match(tokens[0])) and not tokens[0].isdigit()
    # "elf Pavlik", "bell hooks": a name's first word may be lower-case; one of them is capitalised
    return any(t[0].isupper() for t in tokens) and all(_NAME_TOKEN.match(t) or t.islower() for t in tokens)


def parse_entry(raw: str, group: str | None = None) -> Attendee | None:
    """One person (or team) as written; None when the text is not a name."""
    # emphasis around the entry or its words ("_@lidel_", "**Jane**"), not inside handles ("agata_krych")
    text = re.sub(r"(?<![\w])[*_`]+|[*_`]+(?![\w])", "", raw).strip().strip(".").strip()
    text = LINK.sub(lambda m: m.group(1) or m.group(0), text)  # a linked name: [Jane](https://…)
    if not text:
        return None
    role_parts: list[str] = []
    handle = None
    for inner in re.findall(r"\(([^()]*)\)", text):
        inner = inner.strip()
        if re.fullmatch(_HANDLE, inner) and " " not in inner and (inner.startswith("@") or inner.islower()):
            handle = inner.lstrip("@")
        elif inner and not _NOTE_WORDS.search(inner) and not any(c.isdigit() for c in inner):
            role_parts.append(inner)
    text = _ASIDE.sub("", text).strip()
    for sep in (" - ", " – ", " — ", " // ", " / ", ", "):
        if sep in text:
            head, tail = text.split(sep, 1)
            if _is_name(head.strip()):
                text, role_parts = head.strip(), [*role_parts, tail.strip()]
            break
    if _TEAM_HANDLE.match(text):
        return Attendee(text.lstrip("@"), None, None, "team", group)
    mentions = re.findall(r"(?<![\w/])@([\w.-]+)", text)
    if mentions:
        rest = re.sub(r"(?<![\w/])@[\w.-]+", "", text).strip()
        if rest and _is_name(rest):
            return Attendee(rest, "; ".join(role_parts) or None, mentions[0], "person", group)
        if not rest and len(mentions) == 1:
            return Attendee(mentions[0], "; ".join(role_parts) or None, mentions[0], "person", group)
        return None
    if not _is_name(text):
        return None
    if handle is None and " " not in text and text.islower():
        handle = text  # a bare lowercase word is someone's handle
    return Attendee(text, "; ".join(role_parts) or None, handle, "person", group)


def parse_line(line: str, group: str | None = None) -> tuple[list[Attendee], list[str], bool]:
    """(people, what could not be read, whether the line lists absentees)."""
    if (box := CHECKBOX.match(line)) and box["mark"] == " ":
        return [], [], False  # an unticked box in a roll call: not there
    listed = bool(box) or line != strip_list_marker(line)
    text = strip_list_marker(line[box.end() :] if box else line)
    absent = False
    if (m := _GROUP_LABEL.match(text)) and "http" not in m["label"]:
        label = m["label"].strip().lower()
        if is_absence_label(label):
            absent = True
        group = label
        text = m["rest"].strip()
    if not text:
        return [], [], absent
    people: list[Attendee] = []
    unparsed: list[str] = []
    entries = _split(text)
    if listed and len(entries) > 1 and len(entries[0].split()) > 1 and all(_affiliation(e) for e in entries[1:]):
        entries = entries[:1]  # "* Gordon Bradley, Autodesk": one person per list line, then where from
    for entry in entries:
        entry = PROXY.split(entry, maxsplit=1)[0]  # "Jeff Bradley for Bill Ballew": Jeff was there
        if _organisation(entry):
            continue
        found = parse_entry(entry, group)
        if found is None:
            unparsed.append(entry)
        else:
            people.append(found)
    return people, unparsed, absent


def _name_part(entry: str) -> str:
    """An entry without its asides and what follows a dash: "Emily Olin (Linux Foundation)" and
    "Bob Li - Acme Corp" are a name and where they are from."""
    return re.split(r"\s+[-–—/]\s+|\s+//\s+", _ASIDE.sub("", entry).strip(), maxsplit=1)[0]


def _organisation(entry: str) -> bool:
    """ "Epic Games, Inc.", "Animal Logic Pty Ltd": an organisation by its words."""
    return any(w.strip(".,()").lower() in ORG_WORDS for w in _name_part(entry).split())


def _affiliation(entry: str) -> bool:
    """What follows a name on a one-person line: an organisation, or one capitalised word
    ("Autodesk") that is not an acronym."""
    name = _name_part(entry)
    return _organisation(entry) or (len(name.split()) == 1 and name[:1].isupper() and not name.isupper())


def is_attendance_label(text: str) -> bool:
    return attendance_label(text) == "present"


def is_absence_label(text: str) -> bool:
    return attendance_label(text) == "absent"


def collect(blocks: list[tuple[list[str], bool]], inline: list[tuple[str, str]]) -> Attendance:
    """People from attendance blocks (their lines, whether they list absentees) and inline
    `Label: a, b` lines (label, value)."""
    present: list[Attendee] = []
    absent: list[Attendee] = []
    unparsed: list[str] = []
    for label, value in inline:
        people, bad, _ = parse_line(value)
        (absent if is_absence_label(label) else present).extend(people)
        unparsed.extend(bad)
    for block, absentees in blocks:
        for line in block:
            people, bad, is_absent = parse_line(line)
            (absent if is_absent or absentees else present).extend(people)
            unparsed.extend(bad)
    unique: dict[str, Attendee] = {}
    for a in present:
        unique.setdefault(a.name.lower(), a)
    gone = {a.name.lower() for a in absent}
    return Attendance([a for k, a in unique.items() if k not in gone], absent, unparsed)
