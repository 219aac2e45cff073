"""The REM query language: `LOOKUP "x"`, `SEARCH "x" [IN chunks|items] [LIMIT n]`,
`FUZZY "x" [THRESHOLD t]`, `TRAVERSE "x" [DEPTH n]`, `SQL SELECT ...`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from minutebook.core.errors import QueryError

FORMS = {
    "LOOKUP": 'LOOKUP "Sarah Chen"',
    "SEARCH": 'SEARCH "database replication lag" [IN chunks|items] [LIMIT n]',
    "FUZZY": 'FUZZY "Okra integrtion" [THRESHOLD 0.3]',
    "TRAVERSE": 'TRAVERSE "Mike Rodriguez" [DEPTH 2]',
    "SQL": "SQL SELECT title, date_start FROM meetings",
}
_QUOTED = r"""(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>(?:[^'\\]|\\.)*)')"""


@dataclass(frozen=True)
class Query:
    mode: str
    text: str
    target: str = "chunks"  # SEARCH: chunks | items
    limit: int = 10
    threshold: float = 0.3
    depth: int = 2


def _usage(mode: str | None = None) -> str:
    if mode:
        return f"expected: {FORMS[mode]}"
    return "expected one of:\n  " + "\n  ".join(FORMS.values())


def parse_query(source: str) -> Query:
    source = source.strip()
    match = re.match(r"(?P<mode>[A-Za-z]+)\b\s*(?P<rest>.*)$", source, re.S)
    if not match:
        raise QueryError(f"empty query; {_usage()}")
    mode, rest = match["mode"].upper(), match["rest"].strip()
    if mode not in FORMS:
        raise QueryError(f"unknown mode {match['mode']!r}; {_usage()}")
    if mode == "SQL":
        if not rest:
            raise QueryError(f"SQL needs a statement; {_usage('SQL')}")
        return Query("SQL", rest)
    quoted = re.match(_QUOTED + r"\s*(?P<tail>.*)$", rest, re.S)
    if not quoted:
        raise QueryError(f"{mode} needs its subject in quotes; {_usage(mode)}")
    text = (quoted["dq"] if quoted["dq"] is not None else quoted["sq"] or "").replace('\\"', '"').strip()
    if not text:
        raise QueryError(f"{mode} needs a non-empty subject; {_usage(mode)}")
    tail = quoted["tail"].strip()
    target, limit, threshold, depth = "chunks", 10, 0.3, 2
    allowed = {
        "SEARCH": ("IN", "LIMIT"),
        "FUZZY": ("THRESHOLD", "LIMIT"),
        "TRAVERSE": ("DEPTH",),
        "LOOKUP": (),
    }
    tokens = tail.split()
    i = 0
    while i < len(tokens):
        keyword = tokens[i].upper()
        if keyword not in allowed[mode] or i + 1 >= len(tokens):
            raise QueryError(f"unexpected {' '.join(tokens[i:])!r}; {_usage(mode)}")
        value = tokens[i + 1]
        try:
            if keyword == "IN":
                if value.lower() not in ("chunks", "items"):
                    raise ValueError
                target = value.lower()
            elif keyword == "LIMIT":
                limit = int(value)
                if not 1 <= limit <= 100:
                    raise ValueError
            elif keyword == "THRESHOLD":
                threshold = float(value)
                if not 0 < threshold <= 1:
                    raise ValueError
            elif keyword == "DEPTH":
                depth = int(value)
                if not 1 <= depth <= 4:
                    raise ValueError
        except ValueError:
            limits = {"IN": "chunks or items", "LIMIT": "1..100", "THRESHOLD": "0..1", "DEPTH": "1..4"}
            raise QueryError(f"bad {keyword} value {value!r} ({limits[keyword]}); {_usage(mode)}") from None
        i += 2
    return Query(mode, text, target, limit, threshold, depth)
