"""Structured items pulled out of a parsed note: actions, risks, decisions, priorities, milestones.

Three sources, from most to least explicit:
- records: a list item with nested `Owner:` / `Due:` / `Status:` lines (numbered risk lists,
  technical priorities), or any item inside a Risks / Priorities / Action Items section that
  carries such lines;
- entries of sections named for their kind (Action Items, Next steps, Decisions, Risks,
  Milestones, Priorities) and markdown tables with Owner/Task/Due columns;
- lines that announce themselves anywhere: checkboxes, `ACTION:`, `AI-3`, `@name:`,
  `Decision:`/`Agreed to`, `Risk:`, ✓/○ markers.
Owners are only taken from what is written; no owner written means unassigned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, get_args

from minutebook.core.dates import DateMention, find_dates
from minutebook.ingest.commitments import (
    Commitment,
    decision_text,
    find_commitment,
    is_decision,
    people_in,
    split_names,
)
from minutebook.ingest.grammar.notes import (
    CHECKBOX,
    COLUMN_WORDS,
    DONE_MARK,
    FIELD,
    LINK,
    LIST_MARKER,
    NOT_A_PERSON,
    NOT_OWNER_WORDS,
    NOT_SUBJECTS,
    OPEN_MARK,
    UNDERTAKING,
    attendance_label,
    field_name,
    heading_kind,
    is_list_item,
    is_team,
    strip_item_label,
)
from minutebook.ingest.owners import OwnerRef, format_owners, parse_owners
from minutebook.ingest.parse import ParsedNote, Section, budget_of, indent_of

_DECISION_PREFIX = re.compile(
    r"^(?:\*\*)?(?P<verdict>Decision|Decided|Agreed|Approved|Deferred|Rejected|Resolved|Compromise|Outcome)"
    r"(?:\*\*)?\s*[:\-–]\s*",
    re.I,
)
_AGREED_INLINE = re.compile(r"^(?:[\w ]{0,30}:\s*)?(?:we\s+)?(?:agreed|decided)\s+(?:to|that|on)\b", re.I)
_RISK_PREFIX = re.compile(r"^(?:\*\*)?Risk(?:\*\*)?\s*:\s*", re.I)
# "@lidel:", "@lidel, @olizilla -", "@lidel @olizilla document …" (a handle never ends in a dot)
_MENTION = re.compile(r"^@(?P<who>[\w.'-]*[\w'](?:\s*(?:,|&|\+|and)?\s*@[\w.'-]*[\w'])*)\s*[:\-–]?\s*")
_WHO_DOES = re.compile(  # a written name, then a verb of undertaking (the grammar's)
    r"^(?P<who>@?[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|\+|&|and)){0,4}(?:\s*\([^)]*\))?)\s+" + UNDERTAKING + r"\s+"
    r"(?P<task>.+)$"
)
_LEADING_OWNER = re.compile(r"^(?P<who>[^:]{1,60}?)\s*[:\-–—]\s+(?P<task>\S.*)$")
# `(?<!\s)` before a leading run of spaces: tried from each space of a long run instead of its start
# (where the leftmost match begins anyway), such a pattern costs the run's length squared. After the
# ")", `\s*\.?` then `\s+` split one run in every way; the alternatives below read it once.
_TRAILING_PARENS = re.compile(r"(?<!\s)\s*\((?P<inner>[^()]*)\)(?:(?:\s*\.)?(?P<remark>\s+[—–-]\s+.*)?|\s+)$")
_TRAILING_OWNER = re.compile(r"(?<!\s)\s+[—–-]\s+(?P<who>[^—–]+?)$")
_TRAILING_BRACKET = re.compile(r"(?<!\s)\s*\[(?P<who>@?[\w.'’ -]{1,40})\]\s*\.?$")  # "… [@kofi]"
# a handle, a capitalised name (one or two words) or a lower-case word that may be a known handle
_NAMED = re.compile(r"(?<![\w/])@([\w.-]+)|\b([A-Z][a-z'’]+(?:\s+[A-Z][a-z'’-]+)?)\b|\b([a-z][\w.-]{2,})\b")
_CALL_FOR_VOLUNTEERS = re.compile(
    r"^(?:so\s*,?\s*)?(?:(?:does|do|would|could|can|will)\s+(?:anyone|anybody|someone|somebody|you|one of you)|"
    r"(?:who|anyone|anybody|someone|somebody)(?:\s+else)?)\s+"
    r"(?:(?:wants?|would like|is willing|be willing|has time)\s+)?"
    r"(?:(?:to|can|could|will|would)\s+)?(?:volunteer\s+(?:to|for)\s+|take\s+on\s+|pick\s+up\s+)?",
    re.I,
)
_MID_LOWER = re.compile(r"(?<=[a-z,;] )[a-z][a-z'’-]{2,}\b")  # a lower-case word inside a sentence
_NEVER_NAMED = NOT_A_PERSON | NOT_SUBJECTS | NOT_OWNER_WORDS
_TRAILING_ASIDE = re.compile(r"(?<!\s)\s*\([^()]*\)\s*$")
# "by", "due", "deadline:" right before a date; the spaces, comma or semicolon before it go with it
_BY_WORD = re.compile(r"\b(?:by|before|due(?:\s+(?:on|by))?|no later than|NLT|until|deadline)(?:\s*:)?\s+$", re.I)
_DONE_WORDS = re.compile(r"\b(done|complete[d]?|shipped|closed|finished|resolved|delivered|merged|launched)\b", re.I)
_PROGRESS_WORDS = re.compile(
    r"\b(in[ -]progress|ongoing|wip|started|underway|design phase|in review|in design|in development|"
    r"investigating|blocked|testing|partially)\b",
    re.I,
)
_STRIKE = re.compile(r"^~~.+~~$")
_TERSE_WORDS = 8


ItemKind = Literal["action", "risk", "decision", "priority", "milestone"]
ItemStatus = Literal["open", "in_progress", "done", "approved", "deferred", "rejected"]
ITEM_KINDS: tuple[ItemKind, ...] = get_args(ItemKind)
ITEM_STATUSES: tuple[ItemStatus, ...] = get_args(ItemStatus)


@dataclass
class ExtractedItem:
    kind: str  # an ItemKind
    text: str
    line: int
    evidence: str
    owners: list[OwnerRef] = field(default_factory=list)
    owner_text: str | None = None
    status: str = "open"  # an ItemStatus
    status_text: str | None = None
    due_start: date | None = None
    due_date: date | None = None
    due_text: str | None = None
    detail: str = ""
    spoken_at: float | None = None  # transcripts: seconds into the recording
    context: str = ""  # what the item sits under: its agenda items and section ("Inline assembly")
    topic: str = ""  # the nearest of those that says what the work is about
    # people named on the item's line but not read as its owner: shown as "owner unclear", never
    # as "unassigned" beside a name
    mentioned: list[str] = field(default_factory=list)

    @property
    def embed_text(self) -> str:
        # "(Week 1-2)" and similar asides say when, not what: they only blur the meaning
        core = _TRAILING_ASIDE.sub("", self.text) or self.text
        detail = " ".join(self.detail.split()[:60])
        text = f"{core} — {detail}" if detail else core
        # a terse item ("volunteer to open the vote issue") means little without its agenda item
        if self.topic and len(core.split()) < _TERSE_WORDS:
            text += f" ({' '.join(self.topic.split()[:20])})"
        return text


def section_kind(path: tuple[str, ...]) -> str | None:
    """The kind an item gets from the nearest heading that names one."""
    for heading in reversed(path):
        if kind := heading_kind(heading):
            return kind
    return None


def status_from(text: str) -> str:
    if _DONE_WORDS.search(text):
        return "done"
    if _PROGRESS_WORDS.search(text):
        return "in_progress"
    return "open"


def _clean(text: str) -> str:
    text = re.sub(r"\*\*|__|`", "", text)
    text = re.sub(r"\s+", " ", text).strip().strip(" -–:;,.")
    # a removed trailing date can leave its preposition behind ("calls for")
    return re.sub(r"\s+\b(?:for|on|at|in|by|from|until|before|due)$", "", text, flags=re.I).strip(" -–:;,.")


def _due_from_mention(item: ExtractedItem, mention: DateMention) -> None:
    item.due_start, item.due_date, item.due_text = mention.start, mention.end, mention.text


def _by_phrase(text: str, start: int, end: int) -> int | None:
    """Where a "by"/"due"/"deadline" phrase ending at `end` begins (with the spaces and the comma or
    semicolon before it), looking back no further than `start`: only the text since the previous
    date is read, so finding the due date reads the text once, not once per date."""
    m = _BY_WORD.search(text, start, end)
    if m is None:
        return None
    at = m.start()
    while at > start and text[at - 1].isspace():
        at -= 1
    if at > start and text[at - 1] in ",;":
        at -= 1
        while at > start and text[at - 1].isspace():
            at -= 1
    return at


def take_due(text: str, ref: date | None, *, any_date: bool) -> tuple[str, DateMention | None]:
    """Pull a due date out of `text` ("by Nov 25", "due 2025-11-17"); return the text without it."""
    mentions = find_dates(text, ref)
    previous_end = 0  # a date never ends in a space, comma or "by": the phrase lies after the previous one
    for m in mentions:
        if (cut := _by_phrase(text, previous_end, m.span[0])) is not None:
            return (text[:cut] + text[m.span[1] :]).strip(), m
        previous_end = m.span[1]
    if any_date and mentions:
        m = mentions[-1]
        rest = text[m.span[1] :].strip()
        if not rest or rest.startswith("("):  # a trailing date is the due date; keep mid-sentence ones
            return (text[: m.span[0]] + text[m.span[1] :]).strip(), m
        return text, m
    return text, None


def _split_fields(text: str) -> tuple[str, dict[str, str]]:
    """`Owner: Mike (DevOps Lead), Due: Oct 31` → ('', {'owner': ..., 'due': ...})."""
    matches = list(FIELD.finditer(text)) if ":" in text else []  # every field has a colon
    if not matches:
        return text, {}
    head = text[: matches[0].start()]
    fields: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        key = field_name(m["key"])
        fields.setdefault(key, text[m.end() : end].strip(" ,;|.*_"))
    return head, fields


def _apply_fields(item: ExtractedItem, fields: dict[str, str], ref: date | None) -> None:
    if "owner" in fields and (owners := parse_owners(fields["owner"])) is not None:
        item.owners, item.owner_text = owners, fields["owner"]
    if "due" in fields and (mentions := find_dates(fields["due"], ref)):
        _due_from_mention(item, mentions[0])
    if "status" in fields:
        item.status_text = fields["status"]
        item.status = status_from(fields["status"])


def _owner_field(text: str) -> bool:
    """Whether `text` carries an `Owner:`/`Assignee:`/`DRI:` field: such a line announces an item."""
    return ":" in text and any(field_name(m["key"]) == "owner" for m in FIELD.finditer(text))


def _names_in(text: str, known: frozenset[str] | set[str]) -> list[OwnerRef] | None:
    """The owners `text` names: names and teams as parse_owners reads them, or people the meeting
    knows however they are written ("olizilla", "eP")."""
    if (owners := parse_owners(text)) is not None:
        return owners
    parts = split_names(text.strip().strip("*_").strip())
    if parts and all(p.lower() in known for p in parts):
        return [OwnerRef(p, "person", None, p) for p in dict.fromkeys(parts)]
    return None


def _parse_task(
    body: str,
    ref: date | None,
    *,
    owner_context: bool,
    known: frozenset[str] | set[str] = frozenset(),
    ordinary: frozenset[str] = frozenset(),
) -> ExtractedItem:
    """One action-like line (markers already removed): owner, due date, status and clean text."""
    item = ExtractedItem(kind="action", text=body, line=-1, evidence=body)
    text = body
    if _STRIKE.match(text):
        item.status, text = "done", text.strip("~")
    if m := _MENTION.match(text):
        owners = parse_owners(", ".join(re.findall(r"[\w.'-]*[\w']", m["who"].replace("@", " "))), mention=True)
        if owners:
            item.owners, item.owner_text, text = owners, m["who"], text[m.end() :]
    head, fields = _split_fields(text)
    if "owner" in fields and not head.strip() and re.search(r"\s[—–-]\s", fields["owner"]):
        # "Owner: TBD - evaluate a second provider": the owner, then the task
        fields["owner"], head = re.split(r"\s[—–-]\s", fields["owner"], maxsplit=1)
    if fields.keys() & {"owner", "due", "status"}:
        _apply_fields(item, fields, ref)
        text = head or fields.get("action", "") or text
    # trailing "(Sarah, Nov 15)" / "(due 2025-11-17)" / "(Owner: Mike)"
    if (m := _TRAILING_PARENS.search(text)) and owner_context:
        parts = [p.strip() for p in re.split(r"[,;]", m["inner"]) if p.strip()]
        owners_found: list[OwnerRef] = []
        consumed = bool(parts)
        due: DateMention | None = None
        for part in parts:
            bare = re.sub(r"^(?:due|by|owner|owners|eta)\s*:?\s*", "", part, flags=re.I)
            mentions = find_dates(bare, ref)
            if mentions and mentions[0].text.strip() == bare.strip(" .") and due is None:
                due = mentions[0]
            elif (owners := _names_in(bare, known)) is not None and not item.owners:
                owners_found.extend(owners)  # [] for "owner TBD": consumed, still unassigned
            else:
                consumed = False
        if consumed:
            if m["remark"]:
                item.detail = _clean(m["remark"])
            text = text[: m.start()]
            if owners_found:
                item.owners, item.owner_text = owners_found, format_owners(owners_found)
            if due and item.due_date is None:
                _due_from_mention(item, due)
    bracket = _TRAILING_BRACKET.search(text) if owner_context and not item.owners else None
    if bracket and (owners := _names_in(bracket["who"], known) or parse_owners(bracket["who"], mention=True)):
        # "Cert expiry dashboard [@kofi]"
        item.owners, item.owner_text, text = owners, bracket["who"], text[: bracket.start()]
    if not item.owners and owner_context and (m := _TRAILING_OWNER.search(text)):
        # "Alerting on pool saturation - Payments team, Dec 19"
        tail, mention = take_due(m["who"], ref, any_date=True)
        if (owners := _names_in(tail.strip(" ,;"), known)) and item.owner_text is None:
            item.owners, item.owner_text, text = owners, tail.strip(" ,;"), text[: m.start()]
            if mention and item.due_date is None:
                _due_from_mention(item, mention)
    if not item.owners and owner_context:
        if (m := _WHO_DOES.match(text)) and people_in(m["who"], known, ordinary) and (owners := parse_owners(m["who"])):
            item.owners, item.owner_text, text = owners, m["who"], m["task"]
        elif (m := _LEADING_OWNER.match(text)) and (owners := _names_in(m["who"], known)):
            item.owners, item.owner_text, text = owners, m["who"], m["task"]
            if text[:3].lower() == "to ":
                text = text[3:]
        elif (m := _LEADING_OWNER.match(text)) and ":" in text:
            # "Cost dashboard for the warehouse: Hana + Marco by 27 June"
            tail, mention = take_due(m["task"], ref, any_date=True)
            if owners := _names_in(tail.strip(" ,;"), known):
                item.owners, item.owner_text, text = owners, tail.strip(" ,;"), m["who"]
                if mention and item.due_date is None:
                    _due_from_mention(item, mention)
    if item.due_date is None:
        text, mention = take_due(text, ref, any_date=owner_context)
        if mention:
            _due_from_mention(item, mention)
    item.text = _clean(text)
    return item


_CHECKBOX_STATUS = {" ": "open", "/": "in_progress"}


def _strip_marker(text: str) -> tuple[str, str | None]:
    """Remove bullets/checkboxes; return (body, status implied by the marker)."""
    if m := CHECKBOX.match(text):
        return text[m.end() :].strip(), _CHECKBOX_STATUS.get(m["mark"], "done")
    if m := DONE_MARK.match(text):
        return text[m.end() :].strip(), "done"
    if m := OPEN_MARK.match(text):
        return text[m.end() :].strip(), "open"
    return LIST_MARKER.sub("", text, count=1).strip(), None


def _url_words(url: str) -> str:
    """A bare URL's last path segments ("…/reference/pull/1093" → "reference pull 1093"): what it names."""
    path = re.sub(r"^<?https?://[^/\s]+/?", "", url).rstrip(">").split("#")[0].split("?")[0]
    words = {"pull": "PR", "pulls": "PRs", "issues": "issue", "blob": "", "tree": ""}
    return " ".join(words.get(p, p) for p in path.split("/")[-3:] if words.get(p, p))


def plain(text: str) -> str:
    """Markdown links down to their words, bare URLs down to what they name: what a reader would say."""
    return re.sub(r"\s+", " ", LINK.sub(lambda m: m.group(1) or _url_words(m.group(0)), text)).strip()


def _only_links(body: str) -> bool:
    return not re.search(r"[A-Za-z]", LINK.sub("", body).replace("(EMPTY)", ""))


def known_names(note: ParsedNote, people: Iterable[str] = ()) -> set[str]:
    """Lower-cased names, first names and handles a commitment's subject may be written as."""
    known = {p.lower() for p in people}
    for a in note.attendees:
        known.add(a.name.lower())
        known.add(a.name.split()[0].lower())
        if a.handle:
            known.add(a.handle.lower())
    return {k for k in known if k}


class _Extractor:
    def __init__(self, note: ParsedNote, people: Iterable[str] = ()) -> None:
        self.note = note
        self.ref = note.date_start
        self.items: list[ExtractedItem] = []
        self.used_lines: set[int] = set()
        self.known = known_names(note, people)
        self.section: Section | None = None
        self._parents_of: dict[int, list[str]] = {}
        # words the note writes in lower case after a sentence has begun: "Happy", "Update" opening a
        # line are those words, not names (a name is capitalised wherever it stands)
        self.ordinary = frozenset(w for line in note.lines for w in _MID_LOWER.findall(line) if w not in self.known)

    def run(self) -> list[ExtractedItem]:
        for section in self.note.sections:
            self.section = section
            self._section(section)
        self.items.sort(key=lambda i: i.line)
        # the people a line names: those the meeting knows, and whoever owns other work in it
        self.known |= {n.lower() for i in self.items for o in i.owners if o.kind == "person" for n in (o.name,)}
        self.known |= {n.split()[0] for n in self.known if " " in n}
        for item in self.items:
            if not item.owners and item.kind != "decision":  # work, a risk, a milestone with no owner read
                item.mentioned = self._named(item.evidence)
        return self.items

    def _parents(self, number: int) -> list[str]:
        """The bullets a line is nested under, nearest first, as plain text."""
        if (known := self._parents_of.get(number)) is not None:
            return known
        lines = self.note.lines
        parents: list[str] = []
        indent = indent_of(lines[number])
        for j in range(number - 1, max(-1, number - 80), -1):
            text = lines[j]
            if not text.strip():
                continue
            if re.match(r"^\s{0,3}#", text):
                break  # the section's own heading is in the path already
            if indent_of(text) < indent:
                parents.append(plain(LIST_MARKER.sub("", text, count=1).strip()))
                indent = indent_of(text)
                if indent == 0:
                    break
        self._parents_of[number] = parents
        return parents

    def _person(self, text: str) -> OwnerRef | None:
        """`text` when it is nothing but a person: "@alanshaw", "**olizilla**", "Dana Ortiz:"."""
        bare = re.sub(r"[*_`]", "", text).strip().rstrip(":").strip()
        if re.fullmatch(r"@[\w.-]+", bare) or (bare.lower() in self.known and len(bare.split()) <= 3):
            name = bare.lstrip("@")
            return OwnerRef(name, "team" if is_team(name) else "person", None, bare)
        return None

    def _named(self, line: str) -> list[str]:
        """People a line names (people the meeting knows, @handles, "Firstname Lastname"): on an item
        with no owner read, they make it "owner unclear", not "unassigned"."""
        found: dict[str, None] = {}
        for m in _NAMED.finditer(line):
            handle, name, word = m.groups()
            if (handle or name or word).lower().rstrip(".") in _NEVER_NAMED:
                continue  # "@all", "The …", "the": no one in particular
            if handle:
                found[handle.rstrip(".")] = None
            elif name and (name.lower() in self.known or name.split()[0].lower() in self.known):
                found[name] = None
            elif word and word in self.known:
                found[word] = None
        return list(found)

    def _all_known(self, names: list[str]) -> bool:
        return all(n.lower().lstrip("@") in self.known or n.lower().split()[0] in self.known for n in names)

    def _structural_owner(self, number: int) -> OwnerRef | None:
        """The person a line sits under: a standup's "@handle" (or name) heading or bullet, whose
        Next list is theirs."""
        places = [*self._parents(number), *reversed(self.section.path if self.section else ())]
        return next((who for text in places if (who := self._person(text))), None)

    def _context(self, number: int) -> tuple[str, str]:
        """The agenda items and section a line sits under (its parent bullets and nearest headings),
        and the nearest of them that names a subject rather than a label ("Action item:")."""
        parents = self._parents(number)
        path = list(self.section.path[-2:]) if self.section else []
        words = [p for p in [*path, *reversed(parents)] if p and not p.endswith("…")]
        topic = next((w for w in reversed(words) if len(w.rstrip(":").split()) > 2 and section_kind((w,)) is None), "")
        return " › ".join(dict.fromkeys(words))[:400], topic[:200]

    def _commitment(self, found: Commitment, number: int, raw: str, status: str | None) -> None:
        task, mention = take_due(found.task, self.ref, any_date=True)
        owners = [OwnerRef(n, "team" if is_team(n) else "person", None, n) for n in found.owners]
        context, topic = self._context(number)
        text = _clean(plain(task)) or topic or context.split(" › ")[-1]
        detail = ""
        if asked := self._call_for_volunteers(number):
            # "Does anyone want to coordinate the group?" / "LD: I volunteer, I'll be there": the
            # work is what was asked; what the volunteer added is detail
            text, detail = asked, text
        item = ExtractedItem("action", text, number, raw, owners=owners, owner_text=" + ".join(found.owners))
        item.detail = detail
        if mention:
            _due_from_mention(item, mention)
        item.status = status or status_from(task)
        self._add(item, number, raw)

    def _call_for_volunteers(self, number: int) -> str | None:
        """The work asked for when the line before `number` calls for a volunteer ("Does anyone
        want to …?", "Who can take …?"), without the asking."""
        previous = next((t for t in reversed(self.note.lines[max(0, number - 3) : number]) if t.strip()), "")
        body = decision_text(_strip_marker(previous)[0])  # without a speaker's "SC:"
        if not body.endswith("?") or not (m := _CALL_FOR_VOLUNTEERS.match(body)):
            return None
        return _clean(body[m.end() :].rstrip("?")) or None

    def _add(self, item: ExtractedItem, line: int, evidence: str) -> None:
        if not item.text or line in self.used_lines or _only_links(item.text):
            return
        if item.text.rstrip().endswith("?") and not item.owners:
            return  # a question asked in the meeting is not an item
        item.line, item.evidence = line, evidence.strip()
        item.text = plain(item.text) or item.text
        if not item.context and 0 <= line < len(self.note.lines):
            item.context, item.topic = self._context(line)
        self.used_lines.add(line)
        self.items.append(item)

    def _is_record(self, section: Section) -> bool:
        h = section.heading_line
        return h is not None and is_list_item(self.note.lines[h])

    def _section(self, section: Section) -> None:
        if section.path and attendance_label(section.path[-1]):
            return  # a roll call ("[x] Daniel Heckenberg - Chairperson") lists people, not work
        kind = section_kind(section.path)
        if self._is_record(section) and not (section.path and heading_kind(section.path[-1])):
            self._record(section, section_kind(section.path[:-1]))
            return
        table_lines = self._table(section, kind)
        content = [ln for ln in section.lines if ln.text.strip() and ln.number not in table_lines]
        if not content:
            return
        base = min(indent_of(ln.text) for ln in content)
        for ln in content:
            top = indent_of(ln.text) <= base
            # a nested line takes its kind from the bullet it sits under ("- Next:" → actions)
            nested = None if top else next((k for p in self._parents(ln.number)[:1] if (k := heading_kind(p))), None)
            self._line(ln.number, ln.text, kind if top else nested)

    def _line(self, number: int, raw: str, kind: str | None) -> None:
        body, marker_status = _strip_marker(raw)
        checkbox = bool(CHECKBOX.match(raw))
        if not body or (body.endswith(":") and not checkbox) or _only_links(body):
            return
        # a label in front ("**ACTION 12.3:**", "AI-4", "**7.2**:", "4.1 |") is not part of the item
        body, labelled, label_owner = strip_item_label(body)
        if labelled or label_owner:  # "ACTION:", "AI-4", "TODO": an action, whatever the section
            self._action(number, raw, body, marker_status, "action", label_owner)
            return
        if kind != "decision" and is_decision(body) and not _DECISION_PREFIX.match(body):
            item = ExtractedItem("decision", _clean(decision_text(body)), number, raw, status="approved")
            self._add(item, number, raw)
            return
        if (m := _DECISION_PREFIX.match(body)) or (kind == "decision" and marker_status) or _AGREED_INLINE.match(body):
            verdict = m["verdict"].lower() if m else ""
            text = (
                body[m.end() :]
                if m
                else re.sub(r"^[\w ]{0,30}:\s*(?=(?:we\s+)?(?:agreed|decided))", "", body, flags=re.I)
            )
            status = {"deferred": "deferred", "rejected": "rejected"}.get(verdict, "approved")
            item = ExtractedItem("decision", _clean(text), number, raw, status=status, status_text=verdict or None)
            self._add(item, number, raw)
            return
        if checkbox or body.startswith("@"):
            self._action(number, raw, body, marker_status, kind if kind in ("priority", "milestone") else "action")
            return
        if m := _RISK_PREFIX.match(body):
            self._add(ExtractedItem("risk", _clean(body[m.end() :]), number, raw), number, raw)
            return
        if marker_status and (kind == "milestone" or re.match(r"^\S+\s+\d{1,2}\b.*:", body)):
            item = _parse_task(body, self.ref, owner_context=False)
            mentions = find_dates(body, self.ref)
            if mentions:
                _due_from_mention(item, mentions[0])
                item.text = _clean(body[: mentions[0].span[0]] + body[mentions[0].span[1] :])
            item.kind, item.status = "milestone", marker_status
            self._add(item, number, raw)
            return
        if kind == "action":
            self._action(number, raw, body, marker_status, "action")
            return
        if kind is None and (found := find_commitment(body, self.known, ordinary=self.ordinary)):
            # "Priya will write the runbook by Nov 14", "niko to leave a comment", "boats: I'll do it"
            self._commitment(found, number, raw, marker_status)
            return
        if kind is None:
            if marker_status or _owner_field(body):  # a ✓ or ○, or an `Owner:` field: an action
                self._action(number, raw, body, marker_status, "action")
            return
        if kind == "milestone" and not find_dates(body, self.ref):
            return
        item = _parse_task(
            body,
            self.ref,
            owner_context=kind in ("milestone", "priority", "risk"),
            known=self.known,
            ordinary=self.ordinary,
        )
        item.kind = kind
        if marker_status:
            item.status = marker_status
        if kind == "decision":
            item.status = "approved"
        self._add(item, number, raw)

    def _action(
        self, number: int, raw: str, body: str, status: str | None, kind: str, label_owner: str | None = None
    ) -> None:
        """An action item's line (markers and labels removed): its owner from the label, a field,
        the grammar of a commitment, or a name written before or after the task."""
        # under a person's own heading ("@hacdias" › "Next:"), a name the meeting does not know is a
        # project or a label ("Desktop: NPM on IPFS", "Merge Landing Page to Companion"), not an owner
        under = self._structural_owner(number)
        found = (
            find_commitment(body, self.known, action=True, ordinary=self.ordinary)
            if label_owner is None and not _owner_field(body)
            else None
        )
        if found and not (under and not self._all_known(found.owners)):
            self._commitment(found, number, raw, status)
            return
        item = _parse_task(body, self.ref, owner_context=True, known=self.known, ordinary=self.ordinary)
        if under and item.owners and not self._all_known([o.name for o in item.owners]) and label_owner is None:
            item.owners, item.owner_text = [], None
        if label_owner and (owners := parse_owners(label_owner, mention=True)):
            item.owners, item.owner_text = owners, label_owner
        if not item.owners and item.owner_text is None and under:
            item.owners, item.owner_text = [under], under.written
        item.kind = kind
        if status:
            item.status = status
        self._add(item, number, raw)

    def _record(self, section: Section, parent_kind: str | None) -> None:
        """A list item with nested lines: the heading is the item, the nested lines its fields."""
        heading_line = section.heading_line
        assert heading_line is not None
        raw_heading = self.note.lines[heading_line]
        heading_body, marker_status = _strip_marker(raw_heading)
        fields: dict[str, str] = {}
        detail: list[str] = []
        actions: list[tuple[int, str]] = []
        for ln in section.lines:
            if not ln.text.strip():
                continue
            body, _ = _strip_marker(ln.text)
            head, found = _split_fields(body)
            if found and not head.strip():
                if "action" in found:
                    actions.append((ln.number, found["action"]))
                for key, value in found.items():
                    fields.setdefault(key, value)
                if found.keys() & {"risk", "mitigation", "impact"}:
                    detail.append(body)
            else:
                detail.append(body)
        has_fields = bool(fields.keys() & {"owner", "due", "status"})
        kind = parent_kind if parent_kind in ("risk", "priority", "action", "decision", "milestone") else None
        if kind is None and has_fields:
            kind = "action"
        if kind is None:
            for ln in section.lines:  # not a record after all: look at its lines one by one
                if ln.text.strip():
                    self._line(ln.number, ln.text, None)
            return
        item = ExtractedItem(kind, _clean(re.sub(r"^\d{1,3}[.)]\s*", "", heading_body)), heading_line, raw_heading)
        _apply_fields(item, fields, self.ref)
        if marker_status:
            item.status = marker_status
        item.detail = " ".join(detail)
        evidence_lines = [raw_heading.strip()] + [
            ln.text.strip()
            for ln in section.lines
            if (found := _split_fields(_strip_marker(ln.text)[0])[1]) and found.keys() & {"owner", "due", "status"}
        ]
        self._add(item, heading_line, " | ".join(evidence_lines))
        for number, text in actions:
            action = _parse_task(text, self.ref, owner_context=True)
            if not action.owners:  # the record's owner line is written right beside it
                action.owners, action.owner_text = list(item.owners), item.owner_text
            if action.due_date is None and item.due_date is not None:
                action.due_start, action.due_date, action.due_text = (
                    item.due_start,
                    item.due_date,
                    item.due_text,
                )
            self._add(action, number, self.note.lines[number])

    def _table(self, section: Section, kind: str | None) -> set[int]:
        """Items from a markdown table with a task column; returns the lines it used."""
        rows = [ln for ln in section.lines if ln.text.strip().startswith("|")]
        if len(rows) < 3 or not re.match(r"^\s*\|?\s*:?-{2,}", rows[1].text):
            return set()

        def cells(text: str) -> list[str]:
            return [c.strip() for c in text.strip().strip("|").split("|")]

        header = [c.lower() for c in cells(rows[0].text)]

        def column(*names: str) -> int | None:
            return next((i for i, h in enumerate(header) if any(n in h for n in names)), None)

        owner_col = column(*COLUMN_WORDS["owner"])
        task_col = column(*COLUMN_WORDS["task"])
        if task_col is None:
            return set()
        due_col = column(*COLUMN_WORDS["due"])
        status_col = column(*COLUMN_WORDS["status"])
        for row in rows[2:]:
            values = cells(row.text)
            if len(values) <= task_col or not values[task_col]:
                continue
            item = ExtractedItem(
                kind if kind in ("decision", "risk", "priority", "milestone") else "action",
                _clean(values[task_col]),
                row.number,
                row.text,
            )
            if owner_col is not None and owner_col < len(values) and values[owner_col]:
                owners = parse_owners(values[owner_col].replace("@", ""), mention="@" in values[owner_col])
                if owners:
                    item.owners, item.owner_text = owners, values[owner_col]
            if due_col is not None and due_col < len(values) and (mentions := find_dates(values[due_col], self.ref)):
                _due_from_mention(item, mentions[0])
            if status_col is not None and status_col < len(values) and values[status_col]:
                item.status_text = values[status_col]
                item.status = status_from(values[status_col])
            self._add(item, row.number, row.text)
        return {r.number for r in rows}


def extract_items(note: ParsedNote, people: Iterable[str] = ()) -> list[ExtractedItem]:
    """Items in `note`; `people` (lower-cased names and handles the tenant knows) lets a commitment's
    subject be recognised however it is written. The work is charged to the note's parse budget."""
    with budget_of(note).active():
        return _Extractor(note, people).run()
