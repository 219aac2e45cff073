"""How questions are asked: stop words, question scaffolding, the words that say what kind of answer
is wanted, and how one word is recognised however it is typed (a plural, a prefix, a typo, an
acronym). One home for each.

Every reader of a question takes its vocabulary from here: full-text search (search/hybrid.py)
ignores `SEARCH_STOP_WORDS`, the relevance judge (search/relevance.py, through search/coverage.py)
ignores `SCAFFOLDING`, the topic of a who-owns question (search/owners.py) leaves out
`TOPIC_WRAPPERS`, attendance questions are told by `asks_who_attended`, and the cache
(cache/shape.py) reads intent from the `*_WORDS` tables and names past `STOP_WORDS`. Typos
(`same_word`) and acronyms (`acronyms`, `is_acronym_of`) are matched by one rule for search and
the cache alike; what two questions ask about one thing is compared through `PREDICATE_SYNONYMS`
and `PREDICATE_FILLERS`.

The word sets are layers, not one union: a word left out of a question is a word the relevance
judge no longer asks the notes for, so each reader ignores exactly the layers measured for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from minutebook.ingest.grammar.notes import TEAM_WORDS

# --- stop words ----------------------------------------------------------------------------------
# Function words: articles, pronouns, auxiliaries, prepositions, conjunctions, quantifiers. They say
# nothing about any subject; every reader ignores them.
FUNCTION_WORDS = frozenset(
    """
    a an the and or but of to in on at by for from with about into over under as is are was were be
    been being am do does did doing done have has had having can could should would will shall may
    might must i me my we us our you your they them their he him his she her it its this that these
    those there here any some all each every more most much many again also just only very so than
    then too up down out off if not no nor yet still ever yes anything something everything someone
    anyone
    """.split()
)
# The words that open a question; "whats" is "what's" typed without its apostrophe.
QUESTION_WORDS = frozenset("what when where which who whom whose why how whats".split())
STOP_WORDS = FUNCTION_WORDS | QUESTION_WORDS

# --- question scaffolding ------------------------------------------------------------------------
# How people ask about a meeting ("summarize the discussion about X", "what did the group say about
# X") says nothing about X. Chosen on QMSum train (bench/retrieval.py): full-text search ignores
# these beside the stop words.
MEETING_TALK = frozenset(
    """
    summarize summarise summary discuss discussed discussion discussions talk talked think thought
    say said says tell told mention mentioned opinion opinions meeting meetings group ask asked asks
    """.split()
)
# A group asking about itself ("what did the team decide", "did people agree"): the team words of the
# note grammar that name no team in particular. A particular team ("security", "infra", "the API
# team") is what a question is about and stays a key term: the rest of TEAM_WORDS is no stop word.
COLLECTIVE_WORDS = TEAM_WORDS & frozenset({"team", "teams", "group", "people"})
# Words that say what kind of answer is wanted (a decision, a plan, an owner, the latest status),
# not what it is about. The relevance judge ignores them (bench/answers.py: absent questions
# declined, answerable ones not); full-text search keeps them, where they still find passages.
ASKING_WORDS = frozenset(
    """
    decide decided decides decision decisions agree agreed agreement agreements plan plans planned
    planning note notes owner owners own owns owned responsible responsibility status update updates
    latest current currently happen happened happening going get got know known want wanted pick
    picked choose chose chosen schedule scheduled new old open outstanding pending work
    """.split()
)
SEARCH_STOP_WORDS = STOP_WORDS | MEETING_TALK  # what full-text search ignores
SCAFFOLDING = SEARCH_STOP_WORDS | COLLECTIVE_WORDS | ASKING_WORDS  # what the relevance judge ignores

# --- who was there ---------------------------------------------------------------------------------
# "Who attended the call of March 4?", "who was on the sync last week?", "attendees of the TAC
# meeting": answered from the meeting's attendee list (search/attendance.py), not only from passages.
_ATTENDANCE_ASKED = re.compile(
    r"\b(?:attendees?|attendance|participants|who\s+(?:attended|joined|came|showed\s+up|was\s+there|"
    r"were\s+there|(?:was|were)\s+(?:on|at|in)\s+(?:the|that|this|our)?\s*(?:[\w-]+\s+){0,3}?"
    r"(?:call|meeting|sync|standup|stand-up|session|retro|review|room|1:1|one-on-one)))\b",
    re.I,
)


def asks_who_attended(text: str) -> bool:
    """Whether a question asks who was at a meeting."""
    return bool(_ATTENDANCE_ASKED.search(text))


# --- the kind of answer ----------------------------------------------------------------------------
# Read by the cache (cache/shape.py): the question words and the nouns that stand in for them in
# terse questions ("okta eta", "read replicas owner?").
WHO_WORDS = frozenset("who whom whose owner owners owns responsible assignee assigned".split())
WHEN_WORDS = frozenset("when eta deadline deadlines date dates timeline timelines schedule scheduled due".split())
WHY_WORDS = frozenset("why reason reasons rationale motivation cause causes caused".split())
COUNT_WORDS = frozenset("percent percentage amount count".split())
DECISION_WORDS = frozenset(
    "decide decided decision decisions agree agreed agreement conclude concluded conclusion consensus resolution"
    " resolved outcome verdict".split()
)
STATUS_WORDS = frozenset("status progress".split())
NEGATION_WORDS = frozenset("not never no without nor neither none nobody nothing cannot".split())
YES_NO_OPENERS = frozenset("is are was were do does did can could should would will has have had".split())
TIME_PHRASES = (("what", "date"), ("what", "day"), ("which", "date"), ("what", "time"), ("how", "soon"))
REASON_PHRASES = (("how", "come"), ("what", "makes"), ("what", "made"))
COUNT_PHRASES = (("how", "many"), ("how", "much"), ("number", "of"))
INTENT_WORDS = WHO_WORDS | WHEN_WORDS | WHY_WORDS | COUNT_WORDS | DECISION_WORDS | STATUS_WORDS

# --- what is asked about a thing -------------------------------------------------------------------
# Two questions about one thing share an answer only if they ask the same about it (the cache's
# predicate check, cache/shape.py `predicate_mismatch`): "go on leave" / "back from leave", "first
# suspect" / "root cause", "start" / "end", "planned" / "actual", "owner" / "reviewer" are other
# answers. Words a question may differ by and still ask the same: the words notes use
# interchangeably (one group each; a word may sit in two groups, matching is never transitive), and
# fillers that say nothing about what is asked: hedges, "what is happening with X" (its status), the
# kind of value wanted ("how long", "which version": the intent's business) and verbs that only
# carry a question ("take", "bring"). bench/cache.py: on its first run, 75 of 489 paraphrase misses
# were this check, 35 of them on these words; "after", "first", "start", "proposed" stay predicates.
# What "when" and "who" ask of a thing unless told otherwise: "okta eta" is "when will Okta be ready".
READY_WORDS = frozenset(
    """
    ready done finish finished complete completed ship ships shipped shipping land lands landing landed launch
    launches launched launching live deliver delivered delivery available release released rollout
    """.split()
)
OWNING_WORDS = frozenset(
    """
    owner owners own owns owned responsible responsibility lead leads leading driving drive drives handle
    handles handling handled assigned assignee charge doing working
    """.split()
)
IMPLIED_PREDICATES = {"when": READY_WORDS, "who": OWNING_WORDS}
PREDICATE_SYNONYMS: tuple[frozenset[str], ...] = (
    READY_WORDS,
    OWNING_WORDS,
    *(
        frozenset(group.split())
        for group in (
            "decide decided decision decisions agree agreed agreement conclude concluded conclusion consensus"
            " resolution resolve resolved outcome verdict settle settled call",
            "risk risks risky concern concerns worry worries worried threat danger",
            "block blocks blocked blocker blockers blocking stuck",
            "cost costs spend spending spent bill price expense expenses",
            "delay delays delayed slip slips slipped slipping push pushed postpone postponed late",
            "problem problems issue issues trouble",
            "start starts started starting begin begins began beginning kick kickoff",
            "end ends ended ending finish finishes finished over stop stops",
            "cause causes caused reason reasons why because",
            "plan plans planned planning intend intended",
            "meet meeting meetings call sync session",
        )
    ),
)
PREDICATE_FILLERS = frozenset(
    """
    expected expect supposed likely probably actually really exactly currently now today please tell know
    anyone somebody think gonna going like look looking again roughly approximately exact ever yet
    status progress update updates state happening happen happened doing news latest
    time long version number duration speed size big total count much many per figure value
    use used using take takes taking took give gives given find found make made bring run turn turned
    """.split()
)

# What a who-owns question wraps its topic in: "who owns X", "who is handling X", "status of X".
# Items are matched on the rest (search/owners.py `question_topic`).
TOPIC_WRAPPERS = STATUS_WORDS | frozenset(
    "own owns owned owner owners responsible assignee assigned handles handling working".split()
)


# --- one word however typed ----------------------------------------------------------------------
# Typos: one edit (a letter changed, added or dropped, or two neighbours swapped) in a word of four
# letters or more: "okra" ~ "okta" (tests/test_owners.py), "databse" ~ "database", "integrtion" ~
# "integration". Shorter words one edit apart are other words ("api"/"ami"). Longer typos are left
# to the trigram look-up of the relevance judge (search/coverage.py TYPO_SIMILARITY): two edits
# make one word of "billing" and "polling", which the cache must never serve for one another
# (bench/cache.py: wrong answers served).
TYPO_MIN_LETTERS = 4
TYPO_EDITS = 1
# A prefix is the same word when it is most of it: "postgres" / "postgresql" (tests/test_cache_shape.py),
# not "auth" / "authorization".
PREFIX_MIN_LETTERS = 4
PREFIX_SHARE = 0.6
# A word's root for prefix matching: up to three letters of ending dropped ("-ing", "-ion", "-ed",
# "-s"), never below four letters ("okta" stays whole).
ROOT_MIN_LETTERS = 4
ROOT_ENDING = 3
# Acronyms: the initials of 2-6 consecutive words, the first and last of them no stop word; every
# word inside counts ("RPITIT" = "return position impl trait in traits", "MVP" = "minimum viable
# product"). Six words is the longest acronym of the labelled corpora (RPITIT).
ACRONYM_MIN_WORDS = 2
ACRONYM_MAX_WORDS = 6


def typo_edits(length: int) -> int:
    """How many edits a word of `length` letters may be typed with and stay itself."""
    return TYPO_EDITS if length >= TYPO_MIN_LETTERS else 0


def is_typo(a: str, b: str) -> bool:
    """Whether `a` and `b` are one word, one of them mistyped (by the shorter one's `typo_edits`)."""
    if a == b:
        return True
    allowed = typo_edits(min(len(a), len(b)))
    return allowed > 0 and abs(len(a) - len(b)) <= allowed and _edits(a, b, allowed) <= allowed


def same_word(a: str, b: str) -> bool:
    """One word however typed: a plural already stemmed (`stem`), a prefix ("postgres"), a typo
    ("databse"). `a` and `b` as written: an acronym (`is_acronym`: "TAIT") is no typo of a word
    ("trait"), its letters are not typed as one."""
    if a == b:
        return True
    acronym = is_acronym(a) or is_acronym(b)
    a, b = a.lower(), b.lower()
    short, long = sorted((a, b), key=len)
    if len(short) >= PREFIX_MIN_LETTERS and long.startswith(short) and len(short) >= PREFIX_SHARE * len(long):
        return True
    return a == b or (not acronym and is_typo(a, b))


def is_acronym(written: str) -> bool:
    """SSO, RPITIT, TAIT: two letters or more, all capitals."""
    if written.islower():
        return False  # most words: decided without looking at each letter
    letters = [c for c in written if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def stem(word: str) -> str:
    """A word without its possessive or plural ending: "replicas" → "replica", "policies" → "policy"."""
    word = word.lower().strip(".'’!-")
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def word_root(word: str) -> str:
    """The part of a word its forms share, for matching by prefix when no stemmer is at hand (the
    highlighted words of a passage): "migrations" → "migrati", "okta" → "okta"."""
    return word[: max(ROOT_MIN_LETTERS, len(word) - ROOT_ENDING)] if len(word) > ROOT_MIN_LETTERS else word


def acronyms(words: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Every acronym `words` spell out → the run that spells it (start, end: a slice), first run kept."""
    found: dict[str, tuple[int, int]] = {}
    for start in range(len(words)):
        if not _starts_acronym(words[start]):
            continue
        for end in range(start + ACRONYM_MIN_WORDS, min(start + ACRONYM_MAX_WORDS, len(words)) + 1):
            run = words[start:end]
            if not all(w[:1].isalpha() for w in run):
                break
            if _starts_acronym(run[-1]):
                found.setdefault("".join(w[0] for w in run).lower(), (start, end))
    return found


def is_acronym_of(acronym: str, words: Sequence[str]) -> bool:
    """ "rpitit" is the initials of "return position impl trait in traits"."""
    return acronym.isalpha() and acronym.lower() in acronyms(words)


def _starts_acronym(word: str) -> bool:
    return word[:1].isalpha() and word.lower() not in STOP_WORDS


def _edits(a: str, b: str, limit: int) -> int:
    """Edits from `a` to `b` (a swap of neighbours is one), counted up to `limit` + 1."""
    if limit == 1:  # the common case, in linear time: the cache compares every line's words
        if len(a) == len(b):
            diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
            i = diff[0] if diff else 0
            swapped = len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
            return 1 if len(diff) == 1 or swapped else 2
        short, long = sorted((a, b), key=len)
        return 1 if any(short == long[:i] + long[i + 1 :] for i in range(len(long))) else 2
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)
