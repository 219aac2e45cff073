from datetime import date

import pytest

from minutebook.core.dates import (
    date_from_filename,
    describe_date,
    find_dates,
    first_date,
    numeric_order_votes,
    parse_given_date,
    prevailing_order,
)

NOV_2024 = date(2024, 11, 15)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("Week of Oct 21-25, 2025", date(2025, 10, 21), date(2025, 10, 25)),
        ("Date: November 15, 2024", date(2024, 11, 15), date(2024, 11, 15)),
        ("Code freeze Dec 20 - Jan 5", date(2024, 12, 20), date(2025, 1, 5)),
        ("calls for Dec 16-20", date(2024, 12, 16), date(2024, 12, 20)),
        ("Jan 6: Production release", date(2025, 1, 6), date(2025, 1, 6)),
        ("by end of January", date(2025, 1, 31), date(2025, 1, 31)),
        ("due 2025-11-17", date(2025, 11, 17), date(2025, 11, 17)),
        ("on the 3rd of December", date(2024, 12, 3), date(2024, 12, 3)),
        ("Dec 20, 2024 - Jan 5, 2025", date(2024, 12, 20), date(2025, 1, 5)),
        ("sent 11/15/2024", date(2024, 11, 15), date(2024, 11, 15)),
        ("✓ Nov 18: API rate limiting shipped", date(2024, 11, 18), date(2024, 11, 18)),
        ("mid-December review", date(2024, 12, 15), date(2024, 12, 15)),
    ],
)
def test_dates_people_write_resolve_near_the_reference(text: str, start: date, end: date) -> None:
    mention = first_date(text, NOV_2024)
    assert mention is not None, text
    assert (mention.start, mention.end) == (start, end)


@pytest.mark.parametrize("text", ["Week 1-2: kickoff", "we may need 5 people", "Q4 2024 planning", "v2.0 on 10:30"])
def test_text_without_dates_yields_none(text: str) -> None:
    assert find_dates(text, NOV_2024) == []


def test_yearless_date_without_reference_is_not_guessed() -> None:
    assert find_dates("ship by Nov 15") == []


def test_dates_in_file_names() -> None:
    assert date_from_filename("2025-10-21-weekly-tpm-status.md") == date(2025, 10, 21)
    assert date_from_filename("standup_20240302.txt") == date(2024, 3, 2)
    assert date_from_filename("notes.md") is None


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("# HTTP WG Minutes: October 2022", date(2022, 10, 1), date(2022, 10, 31), "month"),
        ("Minutes of the June 2013 Interim Meeting", date(2013, 6, 1), date(2013, 6, 30), "month"),
        ("Q3 2024 offsite", date(2024, 7, 1), date(2024, 9, 30), "quarter"),
        ("Planning — 2019 Q4", date(2019, 10, 1), date(2019, 12, 31), "quarter"),
        ("(30/01/13 - 01/02/13)", date(2013, 1, 30), date(2013, 2, 1), "range"),
        ("Editors' workshop, 30 Jan - 1 Feb 2013", date(2013, 1, 30), date(2013, 2, 1), "range"),
        ("30.01.2013 call", date(2013, 1, 30), date(2013, 1, 30), "day"),
    ],
)
def test_meeting_date_forms_carry_their_precision(text: str, start: date, end: date, precision: str) -> None:
    mention = first_date(text, None) if precision in ("day", "range") else None
    mention = mention or find_dates(text, coarse=True)[0]
    assert (mention.start, mention.end, mention.precision) == (start, end, precision)
    assert not mention.ambiguous


def test_months_and_quarters_are_only_read_when_asked_for() -> None:
    # a due date "by October 2022" is not a day; months are for meeting dates
    assert find_dates("Q3 2024 planning") == [] and find_dates("in October 2022") == []
    assert find_dates("IETF 114 and Sprint 42 retro", coarse=True) == []


def test_numeric_day_month_order_is_decided_by_validity_then_the_tenant() -> None:
    # 13/02 can only be day-first; 02/13 only month-first: both decided without help
    assert first_date("met 13/02/2021").start == date(2021, 2, 13)  # type: ignore[union-attr]
    assert first_date("met 02/13/2021").start == date(2021, 2, 13)  # type: ignore[union-attr]
    ambiguous = first_date("met 04/05/2021")
    assert ambiguous is not None and ambiguous.ambiguous and ambiguous.start == date(2021, 4, 5)
    told = find_dates("met 04/05/2021", numeric_order="dmy")[0]
    assert told.start == date(2021, 5, 4) and not told.ambiguous
    # a range is read in the one order under which it runs forward
    assert first_date("(12/06/19 - 14/06/19)").end == date(2019, 6, 14)  # type: ignore[union-attr]
    assert numeric_order_votes("30/01/13, 12/06/19 - 14/06/19 and 04/05/21") == {"dmy": 2, "mdy": 0}
    assert prevailing_order({"dmy": 2, "mdy": 0}) == "dmy" and prevailing_order({"dmy": 1, "mdy": 1}) is None


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("2022-11-07", "2022-11-07"),
        ("2022-10", "October 2022"),
        ("October 2022", "October 2022"),
        ("Q3 2024", "Q3 2024"),
        ("2013-01-30..2013-02-01", "2013-01-30 – 2013-02-01"),
    ],
)
def test_a_date_a_user_types_is_shown_as_written(typed: str, shown: str) -> None:
    given = parse_given_date(typed)
    assert describe_date(given.start, given.end, given.precision) == shown


@pytest.mark.parametrize("typed", ["next week", "04/05/2021", "2022-13", "2022-11-07..2022-11-01", "soon 2022-11-07"])
def test_a_date_a_user_types_that_is_not_one_date_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_given_date(typed)
