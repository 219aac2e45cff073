"""A question as the exact tier of the cache knows it: "When's Okta SSO ready?" and "when's okta
sso ready" are the same question (case, curly quotes, punctuation and spacing folded; decimal
points and version dots kept)."""

from __future__ import annotations

import re


def normalise_question(question: str) -> str:
    text = question.lower().replace("’", "'")
    text = re.sub(r"[^\w\s'+#.-]", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return re.sub(r"\s+", " ", text).strip()
