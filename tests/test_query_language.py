import pytest

from minutebook.core.errors import QueryError
from minutebook.search.query_language import Query, parse_query


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('LOOKUP "Sarah Chen"', Query("LOOKUP", "Sarah Chen")),
        ("lookup 'Sarah Chen'", Query("LOOKUP", "Sarah Chen")),
        ('SEARCH "database replication lag"', Query("SEARCH", "database replication lag")),
        ('SEARCH "okta" IN items LIMIT 3', Query("SEARCH", "okta", target="items", limit=3)),
        ('FUZZY "Okra integrtion" THRESHOLD 0.4', Query("FUZZY", "Okra integrtion", threshold=0.4)),
        ('TRAVERSE "Mike Rodriguez" DEPTH 3', Query("TRAVERSE", "Mike Rodriguez", depth=3)),
        ("SQL SELECT count(*) FROM meetings", Query("SQL", "SELECT count(*) FROM meetings")),
    ],
)
def test_valid_queries(source: str, expected: Query) -> None:
    assert parse_query(source) == expected


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("", "expected one of"),
        ("FETCH 'x'", "unknown mode"),
        ("LOOKUP Sarah", 'LOOKUP "Sarah Chen"'),
        ('SEARCH "x" IN tables', "chunks or items"),
        ('SEARCH "x" LIMIT 0', "1..100"),
        ('FUZZY "x" THRESHOLD 2', "0..1"),
        ('TRAVERSE "x" DEPTH 9', "1..4"),
        ('LOOKUP "x" LIMIT 3', "unexpected"),
        ('SEARCH ""', "non-empty"),
        ("SQL", "needs a statement"),
    ],
)
def test_bad_syntax_shows_the_expected_form(source: str, hint: str) -> None:
    with pytest.raises(QueryError, match=r"expected|needs|unknown|unexpected") as err:
        parse_query(source)
    assert hint in str(err.value)
