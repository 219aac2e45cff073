"""The question grammar (ingest/grammar/questions.py) is the one home of stop words, question
scaffolding, the typo rule and acronyms: every reader of a question (full-text search, the
relevance judge, the who-owns topic, the cache) ignores the same words and matches a mistyped or
abbreviated word the same way."""

from __future__ import annotations

import uuid

import pytest
from psycopg_pool import ConnectionPool

from minutebook.cache.shape import line_words, question_shape, read_intent, shape_mismatch, subject_words
from minutebook.core.database import tenant_transaction
from minutebook.ingest.grammar import questions as grammar
from minutebook.ingest.grammar.notes import TEAM_WORDS, is_team
from minutebook.search.coverage import KeyTerms, key_terms
from minutebook.search.hybrid import highlight, query_words
from minutebook.search.owners import question_topic


@pytest.fixture(scope="module")
def empty_tenant() -> str:
    """A tenant without notes: every key term is a word no note uses, nothing else differs."""
    return f"q{uuid.uuid4().hex[:10]}"


def judged_terms(pool: ConnectionPool, tenant: str, question: str) -> KeyTerms:
    with tenant_transaction(pool, tenant) as conn:
        return key_terms(conn, question, tenant=tenant)


# --- stop words and scaffolding --------------------------------------------------------------------


@pytest.mark.parametrize("word", sorted(grammar.SEARCH_STOP_WORDS))
def test_search_does_not_look_for_a_stop_word(word: str) -> None:
    assert query_words(f"{word} okta {word.capitalize()} rollout") == ["okta", "rollout"]


def test_the_relevance_judge_asks_the_notes_for_no_scaffolding_word(pool: ConnectionPool, empty_tenant: str) -> None:
    terms = judged_terms(pool, empty_tenant, " ".join(sorted(grammar.SCAFFOLDING)) + " okta")
    assert set(terms.weights) == {"okta"}


def test_what_search_ignores_the_relevance_judge_ignores_too() -> None:
    assert grammar.STOP_WORDS <= grammar.SEARCH_STOP_WORDS <= grammar.SCAFFOLDING


@pytest.mark.parametrize("word", sorted(grammar.STOP_WORDS))
def test_the_cache_reads_no_stop_word_as_a_subject_or_a_name(word: str) -> None:
    shape = question_shape(f"okta {word} {word.capitalize()} rollout")
    assert subject_words(shape) == {"okta", "rollout"}
    assert line_words(f"- okta {word} rollout") == ["okta", "rollout"]
    assert not shape.entities  # "Okta" lower case is no name either: only the stop word could be one


@pytest.mark.parametrize("word", sorted(grammar.TOPIC_WRAPPERS))
def test_who_owns_matches_items_on_the_topic_without_its_wrapping(word: str) -> None:
    assert question_topic(f"who {word} the read replicas") == "read replicas"


def test_only_generic_team_words_are_scaffolding(pool: ConnectionPool, empty_tenant: str) -> None:
    """ "What did the team decide": the team is who asks. "What did security decide": security is
    what the question is about, and the notes must say something about it."""
    assert {"team", "teams", "group", "people"} == grammar.COLLECTIVE_WORDS
    assert all(is_team(w) for w in grammar.COLLECTIVE_WORDS)
    assert set(judged_terms(pool, empty_tenant, "what did the team decide about okta").weights) == {"okta"}
    particular = " ".join(sorted(TEAM_WORDS - grammar.SCAFFOLDING))  # security, infra, api, design…
    with tenant_transaction(pool, empty_tenant) as conn:
        lexemes = conn.execute("SELECT ARRAY(SELECT lexeme FROM unnest(to_tsvector('english', %s)))", (particular,))
        every = set(lexemes.fetchone()[0])
    judged = set(judged_terms(pool, empty_tenant, particular).weights)
    # every particular team word is a key term; a hyphenated one is one term, not also its parts
    assert {"secur", "infra", "api", "back-end", "front-end"} <= judged == every - {"back", "front", "end"}


@pytest.mark.parametrize(
    ("table", "intent"),
    [
        (grammar.WHO_WORDS, "who"),
        (grammar.WHEN_WORDS - grammar.WHO_WORDS, "when"),
        (grammar.WHY_WORDS - grammar.WHO_WORDS - grammar.WHEN_WORDS, "why"),
        (grammar.DECISION_WORDS, "decision"),
        (grammar.STATUS_WORDS, "status"),
    ],
)
def test_the_cache_reads_the_kind_of_answer_from_the_grammar_tables(table: frozenset[str], intent: str) -> None:
    for word in table:
        assert read_intent(["okta", word]) == intent, word


# --- one word however typed ------------------------------------------------------------------------

TYPOS = [
    ("okra", "okta", True),  # four letters: one edit
    ("okat", "okta", True),  # two neighbours swapped
    ("databse", "database", True),  # a letter dropped
    ("integrtion", "integration", True),
    ("intergation", "integration", True),
    ("postgres", "postgresql", True),  # a prefix that is most of the word
    ("api", "ami", False),  # three letters: another word
    ("billing", "polling", False),  # two edits: another word
    ("auth", "authorization", False),  # a short prefix of a long word
    ("okta", "oauth", False),
    ("TAIT", "trait", False),  # an acronym is no typo of a word
    ("SSO", "SSO", True),
]


@pytest.mark.parametrize(("typed", "written", "same"), TYPOS)
def test_the_relevance_judge_and_the_cache_read_a_typo_alike(typed: str, written: str, same: bool) -> None:
    assert grammar.same_word(typed, written) is same
    # the relevance judge: a word no note uses counts as covered when the passage has it however typed
    lexeme = typed.lower()
    terms = KeyTerms({lexeme: 1.0}, frozenset({lexeme}), {lexeme: typed})
    assert (terms.share(set(), f"- the {written} rollout slipped") == 1.0) is same
    # the cache: a question naming the typed word is about the cached question's name, or about another
    names = frozenset({written.lower()})
    for first, second in ((written, typed), (typed, written)):
        cached = question_shape(f"When is the {_name(first)} rollout?", names=names)
        new = question_shape(f"When is the {_name(second)} rollout?", names=names)
        assert (shape_mismatch(cached, new, "") is None) is same


def _name(word: str) -> str:
    return word if grammar.is_acronym(word) else word.capitalize()


@pytest.mark.parametrize(("length", "edits"), [(1, 0), (3, 0), (4, 1), (7, 1), (20, 1)])
def test_how_many_edits_a_word_tolerates(length: int, edits: int) -> None:
    assert grammar.typo_edits(length) == edits


def test_search_highlights_the_forms_of_a_query_word_by_its_root() -> None:
    marked = highlight("Migrating both replicas; Okta migration next", "okta replica migrations")
    assert marked == "«Migrating» both «replicas»; «Okta» «migration» next"
    assert grammar.word_root("migrations") == "migrati" and grammar.word_root("okta") == "okta"


ACRONYMS = [
    ("MVP", "minimum viable product", True),
    ("RPITIT", "return position impl trait in traits", True),  # a stop word inside counts
    ("MLP", "minimum viable product", False),
    ("TOS", "the okta sso", False),  # no acronym starts with a stop word
]


@pytest.mark.parametrize(("acronym", "phrase", "match"), ACRONYMS)
def test_the_relevance_judge_and_the_cache_read_an_acronym_alike(
    pool: ConnectionPool, empty_tenant: str, acronym: str, phrase: str, match: bool
) -> None:
    question = f"What did we decide about the {phrase}?"
    assert grammar.is_acronym_of(acronym, question.lower().rstrip("?").split()) is match
    # the relevance judge: a passage writing the acronym covers the words it stands for
    terms = judged_terms(pool, empty_tenant, question)
    assert (terms.share({acronym.lower()}) == 1.0) is match
    # the cache: the acronym names what the spelled-out question asked about
    reason = shape_mismatch(question_shape(question), question_shape(f"What did we decide about the {acronym}?"), "")
    assert (reason is None) is match
