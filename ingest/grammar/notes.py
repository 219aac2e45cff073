"""How notes are written: markers, labels, fields, section words, team words. One home for each.

Every reader of a note (parse, extract, attendance, boilerplate, chunking, the extractive answer)
takes its list markers, item and field labels from here. The tables are written as data (glyphs,
words) and compiled into patterns once, so a new convention is one more entry, not one more branch.
"""

from __future__ import annotations

import functools
import re

# Bullet glyphs people type or paste: markdown's three, typographic bullets, arrows, circles, the
# dashes a word processor turns "-" into. Numbers "1." "1)" "(1)" and letters "a." "a)" are list
# markers too.
BULLETS = "-*+•◦▪▫‣⁃∙·→▸▹►▶➔➜➝➞⇒○●◆◇■□–—"
# checkbox states: "[ ]" open; "[x]" "[X]" "[✓]" "[✔]" done; "[/]" "[-]" in progress or dropped
CHECKBOX_OPEN = " "
CHECKBOX_DONE = "xX✓✔"
CHECKBOX_OTHER = "/-~"
# a glyph standing for a checkbox on its own (✓ done, ○ open)
DONE_GLYPHS = ("✓", "✔", "✅", "☑", "☒", ":white_check_mark:", ":heavy_check_mark:")
OPEN_GLYPHS = ("○", "◯", "☐", "⬜", ":white_large_square:")

_BULLET_CLASS = "[" + re.escape(BULLETS) + "]"
_NUMBER = r"(?:\d{1,3}[.)]|\(\d{1,3}\)|[a-z][.)]|\([a-z]\))"
_BOX = r"\[[" + re.escape(CHECKBOX_OPEN + CHECKBOX_DONE + CHECKBOX_OTHER) + r"]\]"
_GLYPH = "|".join(re.escape(g) for g in (*DONE_GLYPHS, *OPEN_GLYPHS) if len(g) == 1)
# one list marker at the start of a line: indent, marker, at least one space
LIST_MARKER = re.compile(rf"^(?P<indent>\s*)(?P<marker>{_BULLET_CLASS}|{_NUMBER}|{_BOX}|{_GLYPH})\s+")
# a checkbox, with or without a bullet before it: "- [ ] task", "[x] task"
CHECKBOX = re.compile(
    rf"^\s*(?:(?:{_BULLET_CLASS}|{_NUMBER})\s+)?\[(?P<mark>["
    + re.escape(CHECKBOX_OPEN + CHECKBOX_DONE + CHECKBOX_OTHER)
    + r"])\]\s+"
)
DONE_MARK = re.compile(rf"^\s*(?:{_BULLET_CLASS}\s+)?(?P<mark>{'|'.join(re.escape(g) for g in DONE_GLYPHS)})\s*")
OPEN_MARK = re.compile(rf"^\s*(?:{_BULLET_CLASS}\s+)?(?P<mark>{'|'.join(re.escape(g) for g in OPEN_GLYPHS)})\s*")

TEAM_WORDS = frozenset(
    """
    team teams squad group guild eng engineering engineers backend frontend front-end back-end devops
    sre ops operations security secops infosec product pm pms design ux ui qa sales marketing
    partnerships partner legal finance hr people recruiting support cs success platform infra
    infrastructure data analytics ml ai leadership exec execs executive executives management tpm tpms
    pmo it mobile web api everyone all board growth research docs documentation release devrel
    procurement compliance customer customers vendor vendors contractors
    """.split()
)


def is_list_item(text: str) -> bool:
    return bool(LIST_MARKER.match(text))


def strip_list_marker(text: str) -> str:
    """The line without its list marker (one), stripped."""
    return LIST_MARKER.sub("", text, count=1).strip()


def is_team(name: str) -> bool:
    """ "Payments team", "SRE", "rust-lang/lang": a group, not a person."""
    words = name.lower().split()
    return bool(words) and ("/" in name or words[-1] in TEAM_WORDS or (words[0] in TEAM_WORDS and len(words) == 1))


# --- item labels ---------------------------------------------------------------------------------
# Words that announce an action item in front of it: "ACTION:", "AI-4", "TODO", "Action item -",
# "Follow-up:", "Next step:". Numbered labels ("12.3", "**4.2**") are labels too, without saying the
# line is an action: the grammar of what follows decides.
ACTION_LABEL_WORDS = (
    "action items?", "action points?", "actions?", "ais?", "ars?", "todos?", "to-?dos?", "follow[- ]?ups?",
    "next steps?", "task",
)  # fmt: skip
_ACTION_WORD = "(?:" + "|".join(ACTION_LABEL_WORDS) + ")"
_LABEL_NUMBER = r"(?:\s*[-#]?\s*\d{1,3}(?:\.\d{1,3})*[a-z]?)"
_EMPHASIS = r"(?:\*\*|__|\*|_)"
ITEM_LABEL = re.compile(
    rf"^(?P<open>{_EMPHASIS}|\[)?"
    rf"(?:(?P<action>{_ACTION_WORD}){_LABEL_NUMBER}?|(?P<number>\d{{1,3}}(?:\.\d{{1,3}})+|\d{{1,3}}(?=\*|_)))"
    r"(?:\s*@\s?(?P<who>[\w.-]+))?"
    r"(?P<sep1>\s*[:.)])?"
    rf"(?P<close>{_EMPHASIS}|\])?"
    r"(?P<sep2>\s*[:|–—-](?=\s)|\s*:)?\s*",
    re.I,
)


def strip_item_label(body: str) -> tuple[str, bool, str | None]:
    """`body` (list marker already removed) without its leading item label: (the rest, whether
    the label says it is an action, an owner written inside the label: `**AI @lidel**:`)."""
    m = ITEM_LABEL.match(body)
    if m is None or m.end() >= len(body):
        return body, False, None
    separated = bool(m["sep1"] or m["sep2"] or (m["open"] == "[" and m["close"] == "]"))
    numbered_action = m["action"] and re.search(r"\d", m.group(0)) is not None
    if not separated and not numbered_action:
        return body, False, None  # "Actions speak louder…", "12 people": not labels
    if m["open"] and m["close"] is None and m["open"] != "[":
        return body, False, None  # "**ACTION" without its closing "**" is emphasis of something else
    if m["action"] and m["action"].lower().startswith("task") and not separated:
        return body, False, None
    return body[m.end() :].strip(), bool(m["action"]), m["who"]


# --- field labels ----------------------------------------------------------------------------------
# `Owner: X`, `Due: Y`, `Status: Z` inside an item, on the lines under it, or as table columns. Each
# written label → the field it fills.
FIELD_LABELS: dict[str, str] = {
    "owner": "owner", "owners": "owner", "assignee": "owner", "assignees": "owner", "assigned to": "owner",
    "dri": "owner", "responsible": "owner", "lead": "owner", "who": "owner", "point person": "owner",
    "due": "due", "due date": "due", "deadline": "due", "eta": "due", "target": "due", "target date": "due",
    "by": "due", "when": "due",
    "status": "status", "state": "status",
    "mitigation": "mitigation", "impact": "impact", "risk": "risk", "action": "action",
}  # fmt: skip
# table column headers: a header containing one of these words is that column
COLUMN_WORDS: dict[str, tuple[str, ...]] = {
    "owner": ("owner", "assignee", "who", "responsible", "dri", "lead"),
    "task": ("task", "action", "item", "what", "description", "deliverable", "decision", "risk", "follow"),
    "due": ("due", "deadline", "date", "when", "eta", "target"),
    "status": ("status", "state"),
}
_FIELD_ALTERNATION = "|".join(
    sorted((re.escape(k).replace(r"\ ", r"\s+") for k in FIELD_LABELS), key=len, reverse=True)
)
# a field starts a line or follows a separator: a comma, semicolon, pipe, a sentence end, a dash or
# two spaces. `(?<!\s)`: a run of spaces is tried from its start only (from every space it would cost
# its length squared)
FIELD = re.compile(
    rf"(?:^|[,;|]\s*|(?<=[.)])\s+|(?<!\s)\s{{2,}}|\s[-–—]\s)(?P<open>\*\*|__)?(?P<key>{_FIELD_ALTERNATION})(?P=open)?"
    r"\s*:\s*(?:\*\*|__)?",
    re.I,
)


def field_name(written: str) -> str:
    return FIELD_LABELS[re.sub(r"\s+", " ", written.strip().lower())]


# --- section headings ----------------------------------------------------------------------------
# The words of a heading that say what its items are. A heading is matched word by word, so
# "Remediation items", "Follow-ups from last week" and "Next steps (carried over)" all read as
# actions without a list of whole headings.
SECTION_WORDS: dict[str, tuple[str, ...]] = {
    "action": (
        "action items?", "action points?", "actions", "ais", "next steps?", "follow[- ]?ups?", "to[- ]?dos?",
        "tasks", "assignments?", "commitments", "owners", "remediations?", "remediation items", "takeaways",
        "deliverables", "homework", "open items", "corrective actions?", "repair items", "what's next",
        "going forward",
    ),
    "decision": ("decisions?", "decided", "agreements?", "resolutions?", "motions?", "votes?", "outcomes?"),
    "risk": ("risks?", "blockers?", "concerns", "risk review", "issues and risks"),
    "milestone": ("milestones?", "deadlines", "key dates"),
    "priority": ("priorities", "priority"),
}  # fmt: skip
# A heading that is only one of these words is a person's own plan in a standup ("Next:",
# "Today", "This week"); "Next meeting" is not.
PLAN_HEADINGS = frozenset({"next", "next up", "up next", "next week", "this week", "today", "plans", "plan",
                           "todo", "to do", "planned", "doing"})  # fmt: skip
SECTION_KINDS: list[tuple[str, re.Pattern[str]]] = [
    (kind, re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)) for kind, words in SECTION_WORDS.items()
]


def heading_words(heading: str) -> str:
    """A heading as its words: emphasis, numbering, a trailing colon and asides removed."""
    text = re.sub(r"[*_`]", "", heading).strip()
    text = re.sub(r"^\d{1,3}(?:\.\d{1,3})*[.)]?\s+", "", text)
    text = re.sub(r"\s*\([^()]*\)\s*$", "", text)
    return re.sub(r"\s+", " ", text.rstrip(": ").strip()).lower()


@functools.lru_cache(maxsize=4096)  # a note's bullets repeat ("Next:", "Done:"); each is read once
def heading_kind(heading: str) -> str | None:
    """The kind of item a heading's entries are: action, decision, risk, milestone, priority."""
    words = heading_words(heading)
    if words in PLAN_HEADINGS:
        return "action"
    for kind, pattern in SECTION_KINDS:
        if pattern.search(words):
            return kind
    return None


# --- attendance ------------------------------------------------------------------------------------
# A label naming who was there, matched on its words: "Attendees", "Voting member attendance",
# "Other attendees", "Directors present", "Also present", "Roll call". Absence words win.
PRESENT_WORDS = ("attendees?", "attendance", "attending", "present", "participants?", "roll call", "in the room",
                 "on the call", "joined")  # fmt: skip
ABSENT_WORDS = ("regrets", "absent", "apologies", "not present", "excused", "missing", "unable to attend")
# single words that are an attendance label only on their own ("Who:", "People:")
PRESENT_LABELS_ALONE = frozenset({"who", "people", "members", "quorum"})
_PRESENT = re.compile(r"\b(?:" + "|".join(PRESENT_WORDS) + r")\b", re.I)
_ABSENT = re.compile(r"\b(?:" + "|".join(ABSENT_WORDS) + r")\b", re.I)
_MAX_ATTENDANCE_LABEL_WORDS = 5  # "Voting member attendance", "TAC members present in person"


def attendance_label(text: str) -> str | None:
    """'present' or 'absent' when `text` is a label for who was (not) at the meeting."""
    words = heading_words(text)
    if not words or len(words.split()) > _MAX_ATTENDANCE_LABEL_WORDS:
        return None
    if _ABSENT.search(words):
        return "absent"
    if _PRESENT.search(words) or words in PRESENT_LABELS_ALONE:
        return "present"
    return None


# Words of an organisation written beside a name in an attendance list ("Gordon Bradley,
# Autodesk"; "Matt K, Epic Games, Inc."): such an entry is an affiliation, not a person.
ORG_WORDS = frozenset(
    """inc inc. ltd ltd. llc corp corp. corporation company co co. gmbh pty plc limited studios studio
    foundation university institute labs lab digital games systems technologies technology software
    group""".split()
)
# "Jeff Bradley for Bill Ballew": the first attended in the second's place
PROXY = re.compile(r"\s+(?:for|on behalf of|proxy for|representing)\s+", re.I)


# --- labelled lines --------------------------------------------------------------------------------
# `Label: value`, with the emphasis people put around either ("**Attendees:** a, b", "__Date__: …")
# and an optional list marker before it
LABEL_VALUE = re.compile(
    r"^\s*(?:[*_]{1,2})?(?P<key>[A-Za-z][A-Za-z /&-]{1,30}?)(?:[*_]{1,2})?\s*:\s*(?:[*_]{1,2}(?=\s|$))?"
    r"\s*(?P<value>\S.*)?$"
)


def label_value(text: str) -> tuple[str, str] | None:
    """(label, value) of a `Label: value` line, list marker and emphasis removed; the value is ""
    for a label alone ("- **Attendees:**" with its list below)."""
    m = LABEL_VALUE.match(strip_list_marker(text) if is_list_item(text) else text)
    return (m["key"].strip(), (m["value"] or "").strip()) if m else None


# --- commitments -------------------------------------------------------------------------------------
# Verbs of undertaking after a person: "Niko to …", "Priya will …", "Lena owns …", "Ana volunteered to …"
UNDERTAKING_VERBS = (
    "to", "will", "'ll", "’ll", "shall", "can", "is going to", "are going to", "is planning to",
    "are planning to", "plan to", "plans to", "is planning on", "volunteered to", "volunteer to",
    "volunteers to", "volunteered for",
    "has volunteered to", "agreed to", "offered to", "offer to", "offers to", "is taking", "will take", "takes",
    "took", "owns", "is on", "is assigned to", "assigned to", "is responsible for",
    "is looking into", "will look into", "to look into", "is following up", "will follow up",
    "needs to", "must", "is on point for", "is handling", "handles", "leads",
    "drives", "is driving", "picks up", "picked up", "will own",
)  # fmt: skip
# the verbs as one pattern, the longest first ("is going to" before "is on")
UNDERTAKING = (
    "(?:"
    + "|".join(re.escape(v).replace(r"\ ", r"\s+") for v in sorted(UNDERTAKING_VERBS, key=len, reverse=True))
    + ")"
)
# Under an action heading or label, a person followed by any present-tense verb owns the work
# ("Marcus drafts the proposal before Feb 6") except these, which state rather than undertake.
PRESENT_TENSE_NOT_UNDERTAKING = frozenset(
    """is was has does says said thinks thought seems feels likes wants wonders asks asked mentions notes
    agrees disagrees suggests suggested proposes believes hopes expects knows sees means""".split()
)
# Sentence openers that look like a capitalised subject but are not people.
NOT_SUBJECTS = frozenset(
    """we i you he she they it this that these those there here who what which someone somebody anyone
    everyone everybody nobody people team teams group folks need needs plan plans want wants wanted idea
    goal proposal suggestion question concern maybe probably perhaps still also then now next first
    second finally later today tomorrow yesterday rust lang compiler libs code the a an and or but if
    when while since because so let lets nothing something all some many most few other others item
    items action actions rfc pr prs issue issues fcp mcp decision reason reasons option options
    hard easy nice good great fine ok okay yes no not just only even""".split()
)

# Words that start text written where an owner goes but are not a name ("Status: …", "Next week").
NOT_OWNER_WORDS = frozenset(
    """
    the a an we i you he she they it this that these those our my your their need needs action actions
    note notes status risk risks mitigation impact timeline budget decision decisions agenda next week
    date due owner owners tbd none n/a follow update review plan todo done open blocked pending complete
    completed scope compromise recommendation result results goal goals reason context summary question
    questions issue issues problem idea ideas deadline target eta also then if when q1 q2 q3 q4 month
    today tomorrow monday tuesday wednesday thursday friday
    """.split()
)
# Written where an owner goes but naming no one: "All: code freeze", "Owner: TBD", "@everyone".
# Everyone is no one in particular, so such an item is unassigned: no person, no "All" team.
NOT_A_PERSON = frozenset(
    {"all", "everyone", "everybody", "all hands", "team", "the team", "whole team", "nobody", "no one", "none"}
    | {"tbd", "tba", "unassigned", "n/a", "na", "?", "-", "—", "asap", "eod", "eow", "fyi"}
)


# A markdown link: its text and target hold no bracket or parenthesis (nor the target a space), so an
# unclosed "[" or "(" is tried to the next bracket, not to the end of the line (n² on "[[[…"). Bare
# URLs too.
LINK = re.compile(r"!?\[([^\[\]]*)\]\([^()\s]*\)|<?https?://\S+>?")
