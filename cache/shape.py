"""What a question asks, read from its grammar: the kind of answer it wants (who / when / why /
how many / what…), whether it is negated, and the things it names (people, products, issue
numbers, quoted strings). Two questions share an answer only if they ask the same kind of thing
about the same things; wording, synonyms and typos do not matter.

Names are recognised the way a reader would: capitalised in the question ("Okta"), an acronym
("SSO", "RPITIT"), a CamelCase identifier ("TrustedLen"), a number ("#57893", "v0.2"), or a word
the notes themselves write capitalised mid-sentence ("okta", typed lower case, is still Okta).
A person is one entity however written ("Niko", "nikomatsakis", "Niko Matsakis"), through the
people table. An acronym matches its expansion ("RPITIT" = "return position impl trait in traits").
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from minutebook.ingest.grammar.questions import (
    COLLECTIVE_WORDS,
    COUNT_PHRASES,
    COUNT_WORDS,
    DECISION_WORDS,
    IMPLIED_PREDICATES,
    INTENT_WORDS,
    MEETING_TALK,
    NEGATION_WORDS,
    PREDICATE_FILLERS,
    PREDICATE_SYNONYMS,
    REASON_PHRASES,
    STATUS_WORDS,
    STOP_WORDS,
    TIME_PHRASES,
    WHEN_WORDS,
    WHO_WORDS,
    WHY_WORDS,
    YES_NO_OPENERS,
    is_acronym,
    is_acronym_of,
    same_word,
    stem,
)

WHO, WHEN, WHY, WHAT = "who", "when", "why", "what"
_NOT_PREDICATE = frozenset(stem(w) for w in MEETING_TALK | COLLECTIVE_WORDS | PREDICATE_FILLERS)


def _synonym_groups() -> dict[str, frozenset[int]]:
    """Each stemmed word → the `PREDICATE_SYNONYMS` groups it belongs to."""
    groups: dict[str, set[int]] = {}
    for n, words in enumerate(PREDICATE_SYNONYMS):
        for word in words:
            groups.setdefault(stem(word), set()).add(n)
    return {word: frozenset(found) for word, found in groups.items()}


_SYNONYM_GROUPS = _synonym_groups()
EXCLUSIVE_FAMILIES = frozenset({WHO, WHEN, WHY})  # answers of these kinds never serve one another or a "what"

_CONTRACTION = re.compile(r"\b(what|when|who|where|why|how)(?:'s|’s|s)\b", re.I)
_TOKEN = re.compile(r"\"[^\"]{2,}\"|“[^”]{2,}”|[A-Za-z0-9][A-Za-z0-9'’.+!-]*[A-Za-z0-9!+]|[A-Za-z0-9]")
# a capitalised word after a lower-case word, a digit, a comma or an opening bracket or slash
# ("providers (Google, Microsoft)", "Google/Microsoft"): a name, not the start of a line or sentence
_MID_SENTENCE_CAPITAL = re.compile(r"(?:(?<=[a-z0-9,;)&] )|(?<=[(/\[]))[A-Z][A-Za-z0-9]*(?:[-'][A-Za-z]+)?")
_LOWER_WORD = re.compile(r"(?<![A-Za-z0-9])[a-z][a-z0-9]*")


@dataclass(frozen=True)
class QuestionShape:
    intent: str  # who | when | why | how_many | decision | status | yes_no | how | list | what
    negated: bool
    entities: frozenset[str]  # "person:12", "n:57893", "w:okta", "q:exact phrase"
    words: tuple[str, ...]  # every word of the question, lower case, in order (for matching)
    surface: dict[str, str] = field(default_factory=dict, compare=False)  # entity → as written

    @property
    def family(self) -> str:
        """The kind of answer that must agree: who, when, why, or what (everything else)."""
        return self.intent if self.intent in EXCLUSIVE_FAMILIES else WHAT


def read_intent(words: list[str]) -> str:
    """The kind of answer a question wants, from its question words and the nouns that stand
    in for them in terse questions ("okta eta", "read replicas owner?")."""
    present = set(words)
    pairs = set(itertools.pairwise(words))
    if present & WHO_WORDS:
        return WHO
    if present & WHEN_WORDS or pairs & set(TIME_PHRASES):
        return WHEN
    if present & WHY_WORDS or pairs & set(REASON_PHRASES):
        return WHY
    if pairs & set(COUNT_PHRASES) or present & COUNT_WORDS:
        return "how_many"
    if present & DECISION_WORDS:
        return "decision"
    if present & STATUS_WORDS:
        return "status"
    if words and words[0] in YES_NO_OPENERS:
        return "yes_no"
    if words and words[0] == "how":
        return "how"
    if words and words[0] in {"list", "which"}:
        return "list"
    return WHAT


def tokens(question: str) -> list[str]:
    text = _CONTRACTION.sub(lambda m: f"{m.group(1)} is", question)
    text = re.sub(r"(\w)n[’']t\b", r"\1 not", text)
    return _TOKEN.findall(text.replace("#", " "))


def proper_nouns(texts: Iterable[str]) -> frozenset[str]:
    """Words the notes write capitalised mid-sentence more often than in lower case (title-case
    lines such as "Infrastructure Costs:" are headings, not names, and are not counted)."""
    capital: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in texts:
        for line in text.splitlines():
            lower.update(found := _LOWER_WORD.findall(line))
            names = _MID_SENTENCE_CAPITAL.findall(line)
            if len(names) < 2 or any(len(w) >= 4 and w not in STOP_WORDS for w in found):
                capital.update(w.lower() for w in names)
    return frozenset(w for w, n in capital.items() if n > lower[w] and w not in STOP_WORDS)


@dataclass(frozen=True)
class PeopleIndex:
    """Spellings of the tenant's people (full name, first name, aliases) → person id; a spelling
    two people share resolves to nobody."""

    by_spelling: dict[str, int]

    @classmethod
    def load(cls, conn: psycopg.Connection, tenant: str, spellings: Iterable[str]) -> PeopleIndex:
        wanted = sorted({s.lower() for s in spellings})
        if not wanted:
            return cls({})
        rows = conn.execute(
            """SELECT id, lower(name), lower(split_part(name, ' ', 1)), ARRAY(SELECT lower(a) FROM unnest(aliases) a)
               FROM people
               WHERE tenant_id = %(tenant)s AND kind = 'person'
                 AND (lower(name) = ANY(%(w)s) OR lower(split_part(name, ' ', 1)) = ANY(%(w)s)
                      OR EXISTS (SELECT 1 FROM unnest(aliases) a WHERE lower(a) = ANY(%(w)s)))""",
            {"tenant": tenant, "w": wanted},
        ).fetchall()
        owners: dict[str, set[int]] = {}
        for person_id, name, first, aliases in rows:
            for spelling in {name, first, *aliases}:
                owners.setdefault(spelling, set()).add(int(person_id))
        return cls({s: next(iter(ids)) for s, ids in owners.items() if len(ids) == 1})


def question_shape(
    question: str, *, names: frozenset[str] = frozenset(), people: PeopleIndex | None = None
) -> QuestionShape:
    """`names`: proper nouns of the question's evidence (`proper_nouns`); `people`: its people."""
    raw = tokens(question)
    words = [t.lower().strip('"“”') for t in raw]
    entities: dict[str, str] = {}
    people = people or PeopleIndex({})
    skip: set[int] = set()
    for i in range(len(words) - 1):  # full names first: "Sarah Chen" is one person
        person = people.by_spelling.get(f"{words[i]} {words[i + 1]}")
        if person is not None:
            entities[f"person:{person}"] = f"{raw[i]} {raw[i + 1]}"
            skip |= {i, i + 1}
    for i, (token, word) in enumerate(zip(raw, words, strict=True)):
        if i in skip:
            continue
        if token[0] in '"“':
            entities[f"q:{word}"] = token
            continue
        bare = word.rstrip("!").removesuffix("'s").removesuffix("’s")
        if bare in STOP_WORDS or not bare:
            continue
        if any(ch.isdigit() for ch in bare):
            entities[f"n:{bare}"] = token
        elif (person := people.by_spelling.get(bare)) is not None:
            entities[f"person:{person}"] = token
        elif _looks_like_a_name(token, i, raw) or bare in names or stem(bare) in names:
            entities[f"w:{stem(bare)}"] = token
    return QuestionShape(
        read_intent(words), bool(set(words) & NEGATION_WORDS), frozenset(entities), tuple(words), entities
    )


def _looks_like_a_name(token: str, i: int, raw: list[str]) -> bool:
    if is_acronym(token):
        return True  # SSO, RPITIT, AWS
    if any(c.isupper() for c in token[1:]) and token[0].isalpha():
        return True  # TrustedLen, WebAssembly
    return i > 0 and token[0].isupper() and not raw[i - 1].endswith((".", "?", "!", ":"))


def shape_mismatch(cached: QuestionShape, new: QuestionShape, cited_text: str) -> str | None:
    """Why the cached question's answer cannot serve the new one, or None when it can.

    A different kind of answer, a negation on one side only, or a different subject (each
    question names something the other does not) is a miss. A new question more specific than
    the cached one ("Okta SSO" after "Okta") is served only if the cited evidence mentions the
    extra names; a vaguer one relies on the evidence checks.
    """
    if cached.family != new.family:
        return f"it asks {_kind(new)}, the cached question {_kind(cached)}"
    if cached.negated != new.negated:
        return "one of the two questions is negated"
    new_only = sorted(e for e in new.entities if not _mentions(e, new.surface.get(e, ""), cached))
    cached_only = sorted(e for e in cached.entities if not _mentions(e, cached.surface.get(e, ""), new))
    if new_only and cached_only:
        return f"it names {_show(new, new_only)}, the cached question {_show(cached, cached_only)}"
    if dropped := [e for e in cached_only if e.startswith("n:")]:  # "2021", "v0.34", "#412": another answer
        return f"the cached question names {_show(cached, dropped)}, this one does not"
    cited = set(_words(cited_text))
    uncovered = [e for e in new_only if not _in_words(e, new.surface.get(e, ""), cited)]
    if uncovered:
        return f"the cached answer's evidence does not mention {_show(new, uncovered)}"
    return None


def predicate_words(shape: QuestionShape) -> set[str]:
    """What the question asks about the things it names: its subject words without the names,
    meeting talk, a team asking about itself, fillers ("expected", "actually"), and what its kind
    of answer implies ("when" … "ready", "who" … "owns")."""
    named = {stem(w) for surface in shape.surface.values() for w in _words(surface)}
    implied = {stem(w) for w in IMPLIED_PREDICATES.get(shape.family, ())}  # "when": ready, "who": owns
    return {
        w for w in subject_words(shape)
        if w not in named and w not in _NOT_PREDICATE and w not in implied and not any(c.isdigit() for c in w)
    }  # fmt: skip


def interchangeable(a: str, b: str) -> bool:
    """One word however typed, or two words notes use for one another (`PREDICATE_SYNONYMS`)."""
    return same_word(a, b) or bool(_SYNONYM_GROUPS.get(a, frozenset()) & _SYNONYM_GROUPS.get(b, frozenset()))


def predicate_mismatch(cached: QuestionShape, new: QuestionShape, cited_text: str, answer: str) -> str | None:
    """Why the cached answer does not say what the new question asks about its subject, or None.

    The words the new question asks with and the cached one does not ("go" for "back") must be in
    the cited passages: what they ask is there. When the cached question asks with words of its
    own ("back", "before", "registered", "proposed"), its answer must not speak of them: the
    cached answer's own sentence decides (or, when it repeats none of the words, the clause of
    the passages it was drawn from), never the whole line, which may hold both answers
    ("nominations open Nov 1 and close Nov 15"); and it must speak of the new question's own
    words, if any. Any doubt is a miss."""
    mine, theirs = predicate_words(new), predicate_words(cached)
    new_only = sorted(w for w in mine if not any(interchangeable(w, v) for v in theirs))
    cached_only = sorted(w for w in theirs if not any(interchangeable(w, v) for v in mine))
    cited = set(line_words(cited_text))
    if absent := [w for w in new_only if not _said(w, cited)]:
        return f"it asks about {_listed(absent)}, which the cached answer's passages do not mention"
    if not cached_only:
        return None  # the new question is as specific, or more, in the passages' own words
    for words in _answer_statements(answer, cited_text, cached):
        if any(_said(w, words) for w in cached_only):
            break  # the answer speaks of what only the cached question asks
        if any(_said(w, words) for w in new_only):
            return None  # ...and here, of what the new question asks, and of nothing else
    else:
        if not new_only:
            return f"the cached question asks about {_listed(cached_only)}, this one does not"
    return f"the cached answer is about {_listed(cached_only)}" + (
        f", this question about {_listed(new_only)}" if new_only else ", which this question does not ask"
    )


def _said(word: str, words: set[str]) -> bool:
    return any(interchangeable(word, w) for w in words)


def _listed(words: list[str]) -> str:
    return ", ".join(repr(w) for w in words[:3])


_CLAUSE = re.compile(r"[.;!?\n]+|,\s|\s[-–—]\s|\(|\)")
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


def _answer_statements(answer: str, cited_text: str, cached: QuestionShape) -> list[set[str]]:
    """The words of each sentence of the answer; when no sentence repeats a predicate word, the
    clauses of the cited passages that share the most of the answer's own words (its dates,
    names, numbers: what the question did not say)."""
    sentences = [set(line_words(s)) for s in re.split(r"(?<=[.!?])\s+", _CITATION.sub("", answer)) if s.strip()]
    asked = {stem(w) for w in cached.words}
    own = set().union(*sentences) - asked if sentences else set()
    clauses = [set(line_words(c)) for c in _CLAUSE.split(cited_text) if c.strip()]
    overlap = [(len(own & c), c) for c in clauses]
    best = max((n for n, _ in overlap), default=0)
    return sentences + [c for n, c in overlap if best and n == best]


def subject_words(shape: QuestionShape) -> set[str]:
    """What the question is about: its words without question words and stop words, stemmed."""
    return {stem(w) for w in shape.words if w not in STOP_WORDS and w not in INTENT_WORDS and len(w) > 1}


def line_words(text: str) -> list[str]:
    return [stem(w) for w in _words(text) if w not in STOP_WORDS]


def _kind(shape: QuestionShape) -> str:
    return {WHO: "who", WHEN: "when", WHY: "why"}.get(shape.family, "what")


def _show(shape: QuestionShape, entities: list[str]) -> str:
    return ", ".join(repr(shape.surface.get(e, e.split(":", 1)[1])) for e in entities[:3])


def _words(text: str) -> list[str]:
    return [t.lower().strip('"“”') for t in tokens(text)]


def _mentions(entity: str, surface: str, other: QuestionShape) -> bool:
    if entity in other.entities:
        return True
    if entity.startswith("person:"):
        return False  # the other question would have resolved the same person
    # the other question's acronyms as written: "TAIT" is no typo of "trait"
    written = {s.lower(): s for s in other.surface.values() if is_acronym(s)}
    return _in_words(entity, surface, set(other.words), written) or is_acronym_of(entity.split(":", 1)[1], other.words)


def _in_words(entity: str, surface: str, words: set[str], written: dict[str, str] | None = None) -> bool:
    kind, value = entity.split(":", 1)
    if kind == "n":
        return value in words
    if kind == "q":
        return all(w in words for w in _words(value))
    if kind == "person":
        return all(w in words for w in _words(surface)) if surface else False
    typed = surface if is_acronym(surface) else value
    return any(same_word(typed, (written or {}).get(w) or stem(w)) for w in words)


def read_shape(conn: psycopg.Connection, tenant: str, question: str, evidence: Iterable[str]) -> QuestionShape:
    """The shape of a question, its names read against its evidence and the tenant's people."""
    words = [w.lower() for w in tokens(question) if w.lower() not in STOP_WORDS]
    spellings = [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]
    return question_shape(question, names=proper_nouns(evidence), people=PeopleIndex.load(conn, tenant, spellings))
