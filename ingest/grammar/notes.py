"""How notes are written: markers, labels, fields, section words, team words. One home for each.

Every reader of a note (parse, extract, attendance, boilerplate, chunking, the extractive answer)
takes its list markers, item and field labels from here. The tables are written as data (glyphs,
words) and compiled into patterns once, so a new convention is one more entry, not one more branch.
"""

from __future__ import annotations

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
