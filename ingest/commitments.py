"""Commitments and decisions recognised by their grammar, wherever they stand in a note.

A commitment has a person as the subject of a verb of undertaking: "Niko to leave a comment",
"Priya will write the runbook", "Mara volunteered to take over that role from Kim", "boats: I'll
write it up", "Next step - Jun will file the issue", "…, and Ana volunteered to review", "Kenji,
you own the implementation", "Lena is the DRI", "(assigned to scottmcm)". A subject is a person
when the meeting's attendees or the tenant's people name them (any case: handles are lowercase),
or when it is written as a name and is not an ordinary word ("Going to look…", "Plan to…").

A decision is a sentence whose main clause is an agreement: "we agreed that…", "agreement is to
use…", "consensus: …", "decided not to…", "resolved to…".
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from minutebook.ingest.grammar.notes import (
    NOT_OWNER_WORDS,
    NOT_SUBJECTS,
    PRESENT_TENSE_NOT_UNDERTAKING,
    UNDERTAKING,
    strip_item_label,
)

_NAME = r"@?[A-Za-z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,2}"
_SUBJECTS = rf"(?P<who>{_NAME}(?:\s*(?:,|\+|&|/|\band\b)\s*{_NAME}){{0,3}})"
_SUBJECT_VERB = re.compile(rf"^{_SUBJECTS}\s+(?P<verb>{UNDERTAKING})\s+(?P<task>\S.*)$")
_FIRST_PERSON = re.compile(
    rf"^{_SUBJECTS}\s*[:,–-]\s+(?:(?:yes|ok|okay|sure|sounds good)[,.!]?\s+)?"
    r"(?P<verb>I(?:'ll|’ll| will| can| could take| am going to|'m going to|’m going to| am planning to|"
    r"'m planning to|’m planning to| plan to| volunteer to| volunteer for| volunteer|'d be happy to|’d be happy to|"
    r" am happy to|"
    r"'m happy to|’m happy to| take| own| will own| am on it|'m on it|’m on it)|will|can|"
    r"take the action(?: item)?(?: of| to)?|taking the action(?: item)?(?: of| to)?|volunteers? to|"
    r"happy to)\b\s*(?P<task>.*)$",
    re.I,
)
_INITIALS = re.compile(r"[a-z]{1,2}[A-Z]{1,2}")
_VOLUNTEERED_INSIDE = re.compile(
    rf"(?:[,;]\s*|(?<=[.!])\s+|\band\s+|\bso\s+){_SUBJECTS}\s+"
    rf"(?P<verb>volunteered to|volunteers to|agreed to|offered to|will|is going to|to)\s+(?P<task>\S.*)$"
)
# "will hand over chair duties to John", "passing the release notes on to Ana": the first handover
# verb, then the task, then "to" and the person at the end of the line. Read as a verb found once and a
# tail tried at the last " to " (a lazy task before "to …$" retried from every verb costs n²)
_HANDOVER_VERB = re.compile(
    r"\b(?:hand(?:s|ed|ing)?(?:\s+over)?|pass(?:es|ed|ing)?(?:\s+on)?|delegat(?:e|es|ed|ing)|reassign(?:s|ed|ing)?)\s+"
)
_HANDED_TO_TAIL = re.compile(rf"to\s+{_SUBJECTS}\s*[.;,!]?")
_VOCATIVE = re.compile(rf"^{_SUBJECTS},\s+you(?:'ll|’ll| will| own| can| are going to| take)\s+(?P<task>.+)$", re.I)
_DRI = re.compile(
    rf"(?:^|[;.]\s+|\band\s+){_SUBJECTS}\s+(?:is|will be|as)\s+(?:the\s+)?(?:DRI|owner|point person)\b(?P<task>.*)$"
)
_OWNS_IT = re.compile(rf"(?:^|[;.]\s+|\band\s+){_SUBJECTS}\s+owns\s+(?:it|this|that)\b(?P<task>.*)$")
_ASSIGNED = re.compile(rf"(?:^|\()(?:re-?)?assigned to:?\s+{_SUBJECTS}\)?\s*\.?$", re.I)
# under an action heading or label: "Marcus drafts the proposal", "Dana Ortiz reviews it"
_PRESENT_TENSE = re.compile(rf"^{_SUBJECTS}\s+(?P<verb>[a-z]{{2,}}[^s\W]s)\s+(?P<task>\S.*)$")
_DECISION = re.compile(
    r"(?:^|[:;,.]\s+|\b(?:so|and|then)\s+)(?:(?:we|the team|the group|everyone|all|they|team)\s+)?"
    r"(?:(?:yes|ok|okay|so|and|i think|i believe)[,]?\s+)?(?:(?:we|the team|the group|everyone|all|they|team)\s+)?"
    r"(?:(?:have\s+|had\s+)?(?:agreed|decided|resolved|concluded|settled)\s+(?:that|to|on|not to|against|we)\b"
    r"|(?:the\s+)?(?:agreement|consensus|decision|resolution|conclusion|outcome)\s*(?:is|was|:|-|–)\s*)",
    re.I,
)


@dataclass(frozen=True)
class Commitment:
    owners: list[str]  # as written
    task: str  # what was undertaken ("" when the parent bullet says it: "Lena is the DRI")
    verb: str


_NAME_SEPARATOR = re.compile(r"(?<!\s)\s*(?:,|\+|&|/|\band\b)\s*")  # from a run's start only: linear


def split_names(who: str) -> list[str]:
    """ "Noor Haddad and Lee Park", "@a, @b" → the names, without "@"."""
    parts = _NAME_SEPARATOR.split(who)
    return [p.strip().lstrip("@").strip(".") for p in parts if p.strip()]


# a speaker's line with a first-person undertaking in a later sentence: "PAC: Ultimately, this is
# the team proposing it. I am happy to take the lead and submit a new version."
_SPEAKER = re.compile(rf"^{_SUBJECTS}\s*:\s+(?P<said>\S.*)$")
_LATER_FIRST_PERSON = re.compile(
    r"(?:^|[.!;]\s+|,\s+(?:and|so|but)\s+)(?P<verb>I(?:'ll|’ll| will| can take| am happy to|'m happy to|’m happy to|"
    r" volunteer to| am going to|'m going to|’m going to| take the action(?: item)? to))\s+(?P<task>[^.!?;]+)"
)
_FINAL_QUESTION = re.compile(r"(?<=[.!;])\s+[^.!;?]*\?$")
_NOT_UNDERTAKINGS = re.compile(
    r"^(?:be|been|have|has|need|needs|probably|likely|not|never|also|always|still|just|only|make sense|"
    r"happen|work|fail|break|become|remain|continue|depend|require)\b",
    re.I,
)
_PLAIN_VERBS = ("to", "volunteered to", "volunteers to", "has volunteered to", "agreed to", "assigned to",
                "is assigned to", "offered to", "offers to", "volunteered for")  # fmt: skip


def _is_person(name: str, known: AbstractSet[str], ordinary: frozenset[str] = frozenset()) -> bool:
    lowered = name.lower()
    if lowered in known or lowered.split()[0] in known:
        return True
    tokens = name.split()
    first = tokens[0].lower()
    if len(tokens) == 1 and _INITIALS.fullmatch(name):
        return True  # "eP", "jD": initials as scribes write them
    if first in NOT_SUBJECTS or first in NOT_OWNER_WORDS or not name[:1].isupper():
        return False
    if len(tokens) == 1 and lowered in ordinary:
        return False  # "Happy to…", "Seems…": the note writes it lower-case elsewhere, an ordinary word
    # "Improved Add to IPFS menu", "Updated docs", "Testing": a verb or a noun of action, not a name
    return not (first.endswith(("ing", "ed", "ly", "tion", "ment")) or (len(tokens) == 1 and len(first) < 2))


def _people(
    who: str, known: AbstractSet[str], ordinary: frozenset[str], *, task: str | None = None, explicit: bool = False
) -> list[str] | None:
    """The names in `who` when they are people. With a `task` (a "X will …" statement), an unknown
    single name counts only when what follows reads as something done, not a state ("will be")."""
    names = split_names(who)
    if explicit:  # "assigned to scottmcm": whoever is named there is a person, handle or not
        known = known | {n.lower() for n in names if n.lower() not in NOT_SUBJECTS and len(n.split()) <= 3}
    if not names or any(not _is_person(n, known, ordinary) for n in names):
        return None
    unknown = [n for n in names if n.lower() not in known and n.lower().split()[0] not in known]
    if task is not None and unknown and _NOT_UNDERTAKINGS.match(task):
        return None
    return names


def _handed_to(body: str) -> tuple[str, str] | None:
    """(who, task) of "… hand over <task> to <who>" ending the line."""
    at = body.rfind(" to ")
    tail = _HANDED_TO_TAIL.fullmatch(body, at + 1) if at > 0 else None
    verb = _HANDOVER_VERB.search(body, 0, at) if tail else None
    if tail is None or verb is None:
        return None
    task = re.sub(r"\s+(?:over|on)$", "", body[verb.end() : at]).strip()
    return (tail["who"], task) if task else None


def people_in(who: str, known: AbstractSet[str], ordinary: frozenset[str] = frozenset()) -> list[str] | None:
    """The people `who` names ("Noor Haddad and Lee Park"), or None when it is not people."""
    return _people(who, known, ordinary)


def find_commitment(
    text: str, known: AbstractSet[str], *, action: bool = False, ordinary: frozenset[str] = frozenset()
) -> Commitment | None:
    """The commitment `text` states, if any. `known`: lower-cased names, first names and handles
    of the people this meeting (and tenant) knows; `ordinary`: words the note writes in lower case
    (a capitalised one of them opens a sentence, it names no one). `action`: the line is an action item (under an
    action heading or label), where a person doing anything in the present tense owns it."""
    body = strip_item_label(text.strip())[0]
    if body.endswith("?"):
        # a question is no commitment, but a line may say one and then ask: "I'll take it. OK, SC?"
        body = _FINAL_QUESTION.sub("", body) if _FINAL_QUESTION.search(body) else ""
    if not body:
        return None
    if (m := _ASSIGNED.search(body)) and (names := _people(m["who"], known, ordinary, explicit=True)):
        task = body[: m.start()].strip(" -–—,;:(")
        task = re.sub(r"^(?:\S+\s+)?(?:is|was)$", "", task).strip()
        return Commitment(names, task, "assigned")
    if (m := _VOCATIVE.match(body)) and (names := _people(m["who"], known, ordinary)):
        return Commitment(names, m["task"].strip(), "you")
    if (m := _FIRST_PERSON.match(body)) and (names := _people(m["who"], known, ordinary)):
        return Commitment(names, m["task"].strip() or "this", m["verb"].lower())
    if m := _SUBJECT_VERB.match(body):
        # "Niko to leave a comment" is the action-item idiom; "X will …" may be a statement about X
        stated = None if m["verb"] in _PLAIN_VERBS else m["task"]
        if names := _people(m["who"], known, ordinary, task=stated):
            return Commitment(names, m["task"].strip(), m["verb"])
    if handed := _handed_to(body):
        who, task = handed
        if names := _people(who, known, ordinary):
            return Commitment(names, task, "handed to")
    for pattern in (_DRI, _OWNS_IT):
        if (m := pattern.search(body)) and (names := _people(m["who"], known, ordinary)):
            rest = re.sub(r"^(?:for|of|on)\s+", "", m["task"].strip(" ,;:-–—."))  # "is the DRI for X"
            before = body[: m.start()].strip(" ,;:-–—.")
            return Commitment(names, rest or before, "owns")
    present = _PRESENT_TENSE.match(body) if action else None
    if present and present["verb"].lower() in PRESENT_TENSE_NOT_UNDERTAKING:
        present = None
    if present and (names := _people(present["who"], known, ordinary, task=present["task"])):
        return Commitment(names, present["task"].strip(), present["verb"])
    if m := _VOLUNTEERED_INSIDE.search(body):
        stated = m["task"] if m["verb"] in ("will", "is going to") else None
        names = _people(m["who"], known, ordinary, task=stated)
        # "…; niko to tune it": after a clause break, "X to" is only an assignment when X is someone known
        if names and (m["verb"] != "to" or all(n.lower() in known for n in names)):
            return Commitment(names, m["task"].strip(), m["verb"])
    if (m := _SPEAKER.match(body)) and (later := _LATER_FIRST_PERSON.search(m["said"])):
        task = later["task"].strip()
        if not _NOT_UNDERTAKINGS.match(task) and (names := _people(m["who"], known, ordinary)):
            return Commitment(names, task, later["verb"].lower())
    return None


def is_decision(text: str) -> bool:
    """ "We agreed that…", "agreement is to use…", "Consensus: …", "decided not to…"."""
    body = text.strip()
    return bool(body) and not body.endswith("?") and bool(_DECISION.search(body))


def decision_text(text: str) -> str:
    """The decision as written, without a speaker's `name:` in front."""
    return re.sub(r"^[\w .'’-]{1,30}:\s+(?=\S)", "", text.strip()) or text.strip()
