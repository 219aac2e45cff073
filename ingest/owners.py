"""Who an item belongs to, as written: "Sarah", "Mike (DevOps Lead)", "Security team + Backend", "@jules".

Only text that reads like names or team names becomes an owner; anything else is not an owner,
so an item without a written owner stays unassigned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minutebook.ingest.grammar.notes import NOT_A_PERSON, NOT_OWNER_WORDS, TEAM_WORDS

__all__ = ["NOT_A_PERSON", "OwnerRef", "format_owners", "owner_key", "parse_owners"]

# the name keeps the spaces before "(" (stripped where used): a lazy name before `\s*\(` retried
# every split of a long run of spaces
_ROLE = re.compile(r"^(?P<name>[^()]+)\((?P<role>[^)]*)\)$")
# `(?<!\s)`: a run of spaces is tried from its start only, not from each space in it (quadratic)
_OWNER_SEPARATOR = re.compile(r"[()]|(?<!\s)\s*(?:\+|&|/|,|;|\band\b)\s*")
_TOKEN = re.compile(r"^(?:[A-Z][\w'’.-]*|[A-Z]{2,6}s?|Mc[A-Z]\w*|O['’][A-Z]\w*|de|van|von|da|di|le|la)$")


@dataclass(frozen=True)
class OwnerRef:
    name: str
    kind: str  # person | team
    role: str | None = None
    written: str = ""

    @property
    def key(self) -> str:
        return owner_key(self.name, self.kind)


def owner_key(name: str, kind: str) -> str:
    key = re.sub(r"\s+", " ", name.strip().lower())
    if kind == "team":
        key = re.sub(r"\s+(?:team|teams|squad|group)$", "", key) or key
    return key


def _split_outside_parens(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    for m in _OWNER_SEPARATOR.finditer(text):
        token = m.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            parts.append(text[start : m.start()])
            start = m.end()
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _one_owner(raw: str, *, mention: bool) -> OwnerRef | None:
    written = raw.strip()
    text = written.lstrip("@").strip().rstrip(".:")
    role = None
    if m := _ROLE.match(text):
        text, role = m["name"].strip(), m["role"].strip() or None
    tokens = text.split()
    if not tokens or len(tokens) > 4 or any(ch.isdigit() for ch in text):
        return None
    lowered = [t.lower() for t in tokens]
    if mention and len(tokens) == 1 and re.fullmatch(r"[\w.'-]+", text):
        name = text if text[0].isupper() else text[:1].upper() + text[1:]
        return OwnerRef(name, "team" if lowered[0] in TEAM_WORDS else "person", role, written)
    if lowered[0] in NOT_OWNER_WORDS and lowered[0] not in TEAM_WORDS:
        return None
    if not all(_TOKEN.match(t) or t.lower() in TEAM_WORDS for t in tokens):
        return None
    if not tokens[0][0].isupper():
        return None
    is_team = any(t in TEAM_WORDS for t in lowered) or (len(tokens) == 1 and text.isupper() and len(text) <= 6)
    return OwnerRef(text, "team" if is_team else "person", role, written)


def parse_owners(text: str, *, mention: bool = False) -> list[OwnerRef] | None:
    """Owners named in `text`; [] when it explicitly says nobody (TBD); None when it is not names."""
    cleaned = text.strip().strip("*_").strip()
    if cleaned.lower() in NOT_A_PERSON:
        return []
    parts = _split_outside_parens(cleaned)
    if not parts or len(parts) > 6:
        return None
    parts = [p for p in parts if p.lstrip("@").strip().rstrip(".:").lower() not in NOT_A_PERSON]
    owners = [_one_owner(p, mention=mention or p.startswith("@")) for p in parts]
    if any(o is None for o in owners):
        return None
    unique: dict[str, OwnerRef] = {}
    for o in owners:
        assert o is not None
        unique.setdefault(o.key, o)
    return list(unique.values())


def format_owners(owners: list[OwnerRef]) -> str:
    return " + ".join(o.name for o in owners)
