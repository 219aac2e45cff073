"""Lines a template writes, told apart from lines people write.

Every line of a passage is reduced to a fingerprint that ignores what a template varies (list
markers, checkbox state, case, numbers, spacing). A fingerprint found in many of a tenant's
meetings (`template_threshold`) is template text: link lists, "Upcoming meetings" tables, agenda
scaffolding, "agreed to remove the nominated label". Counting is done at question time over
`chunk_lines`, so it is always as current as the notes themselves; nothing is hidden at ingest.
"""

from __future__ import annotations

import hashlib
import math
import re

from minutebook.ingest.grammar.notes import strip_list_marker

_MIN_CHARS = 4
TEMPLATE_SHARE = 0.6  # a passage this much template text is kept out of ranking and answers
TEMPLATE_MIN_MEETINGS = 4  # fewer meetings sharing a line never make it template text
_NUMBERS = re.compile(r"\d+")
_MARKUP = "*_`#|"  # emphasis, code, headings and table bars: spacing


def line_fingerprint(text: str) -> int | None:
    """A signed 64-bit fingerprint of what a line says; None for lines too short to tell."""
    body = strip_list_marker(strip_list_marker(text.lstrip(" >"))).lower()
    body = _NUMBERS.sub("0", body)
    for mark in _MARKUP:  # str.replace and str.split: twice as fast as patterns, on every line of a search
        body = body.replace(mark, " ")
    body = " ".join(body.split()).strip(" .:;,-")
    if len(body) < _MIN_CHARS:
        return None
    digest = hashlib.blake2b(body.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def fingerprints(text: str) -> list[int]:
    """The distinct fingerprints of a passage's lines."""
    return list(dict.fromkeys(f for line in text.splitlines() if (f := line_fingerprint(line)) is not None))


def template_threshold(meetings: int) -> int:
    """How many meetings must share a line for it to be template text: at least four, and a tenth
    of the tenant's meetings (a carried-over action item repeats for a few weeks, not for a tenth)."""
    return max(TEMPLATE_MIN_MEETINGS, math.ceil(meetings * 0.1))
