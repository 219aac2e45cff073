from datetime import date

import pytest

from minutebook.core.dates import date_from_filename, find_dates, first_date

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
