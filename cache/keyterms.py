"""The words two questions must share for one's answer to serve the other.

A cached answer about "Okta SSO" must never serve "Google SSO", however close the sentences
are in embedding space. Key terms are numbers, dates, quoted strings, names (capitalised words
past the first), and rare words — words the embedding model's WordPiece vocabulary does not
know whole, a stand-in for "uncommon" that needs no word list.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_QUESTION_WORDS = frozenset(
    """what when where which who whom whose why how is are was were do does did can could should would
    will shall may might must i we you they it the a an""".split()
)
_TOKEN = re.compile(r"\"[^\"]+\"|'[^']+'|[A-Za-z0-9][A-Za-z0-9'’.+#-]*")

WordPieces = Callable[[str], int]  # how many word pieces the model splits a word into


def normalise_question(question: str) -> str:
    text = question.lower().replace("’", "'")
    text = re.sub(r"[^\w\s'+#.-]", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _stem(word: str) -> str:
    word = word.lower().strip(".'’-")
    for suffix in ("'s", "ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def key_terms(question: str, pieces: WordPieces) -> frozenset[str]:
    terms: set[str] = set()
    tokens = _TOKEN.findall(question)
    for i, token in enumerate(tokens):
        if token[0] in "\"'" and len(token) > 2:
            terms.add(token.strip("\"'").lower())
            continue
        low = token.lower()
        if low in _QUESTION_WORDS:
            continue
        if any(ch.isdigit() for ch in token):
            terms.add(low)
        elif i > 0 and token[0].isupper() and not tokens[i - 1].endswith((".", "?", "!")):
            terms.add(_stem(token))
        elif token.isupper() and len(token) >= 2:
            terms.add(low)
        elif len(low) >= 4 and pieces(low) >= 2:
            terms.add(_stem(low))
    return frozenset(terms)
