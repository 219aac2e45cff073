from datetime import date

import pytest

from minutebook.search.timewords import parse_time_window, strip_time_phrase

WED = date(2025, 11, 26)  # a Wednesday


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("what did we decide last week", date(2025, 11, 17), date(2025, 11, 23)),
        ("anything this week?", date(2025, 11, 24), date(2025, 11, 30)),
        ("what happened yesterday", date(2025, 11, 25), date(2025, 11, 25)),
        ("decisions in November", date(2025, 11, 1), date(2025, 11, 30)),
        ("risks in December", date(2024, 12, 1), date(2024, 12, 31)),  # the most recent December
        ("in March 2024", date(2024, 3, 1), date(2024, 3, 31)),
        ("changes since Oct 21", date(2025, 10, 21), WED),
        ("since last week", date(2025, 11, 17), WED),
        ("what's open in Q4", date(2025, 10, 1), date(2025, 12, 31)),
        ("Q1 plans", date(2025, 1, 1), date(2025, 3, 31)),
        ("Q4 2024 plan", date(2024, 10, 1), date(2024, 12, 31)),
        ("last quarter", date(2025, 7, 1), date(2025, 9, 30)),
        ("last month", date(2025, 10, 1), date(2025, 10, 31)),
        ("in the past 2 weeks", date(2025, 11, 12), WED),
        ("between Oct 1 and Oct 15 what shipped", date(2025, 10, 1), date(2025, 10, 15)),
        ("what did eng say on Oct 23", date(2025, 10, 23), date(2025, 10, 23)),
        ("in 2024", date(2024, 1, 1), date(2024, 12, 31)),
        ("before Nov 1", None, date(2025, 11, 1)),
        ("Who was on the call of March 4, 2022?", date(2022, 3, 4), date(2022, 3, 4)),
        ("what did the meeting of 4 March 2022 decide", date(2022, 3, 4), date(2022, 3, 4)),
        ("what happened at the meeting on the 3rd of March 2022", date(2022, 3, 3), date(2022, 3, 3)),
        ("who attended on the 21st of June 2023?", date(2023, 6, 21), date(2023, 6, 21)),
        ("the minutes dated 2022-03-04", date(2022, 3, 4), date(2022, 3, 4)),
    ],
)
def test_time_words_resolve_against_the_reference_date(question: str, start: date | None, end: date) -> None:
    window = parse_time_window(question, WED)
    assert window is not None
    assert (window.start, window.end) == (start, end)


def test_no_time_words_no_window() -> None:
    assert parse_time_window("who owns Okta SSO", WED) is None
    assert parse_time_window("May we ship the Week 1-2 plan?", WED) is None
    assert parse_time_window("a lot of May notes were late", WED) is None


def test_window_is_described_and_removed_from_the_searched_text() -> None:
    window = parse_time_window("what did we decide about SSO last week?", WED)
    assert window is not None
    assert window.describe() == "2025-11-17 .. 2025-11-23"
    assert strip_time_phrase("what did we decide about SSO last week?", window) == "what did we decide about SSO ?"


def test_same_words_on_another_week_are_another_window() -> None:
    a = parse_time_window("last week", date(2025, 11, 26))
    b = parse_time_window("last week", date(2025, 12, 3))
    assert a is not None and b is not None and a.key() != b.key()
