"""Calendar dates as people write them in notes: "Oct 21-25, 2025", "Nov 15", "Dec 20 - Jan 5".

Dates without a year take the year that puts them closest to a reference date (the meeting's),
so "Jan 6" in a November 2024 meeting is 2025-01-06 and "Oct 21" in an Oct 2025 week is 2025.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

MONTHS: dict[str, int] = {}
for _i, _name in enumerate(calendar.month_name):
    if _i:
        MONTHS[_name.lower()] = _i
        MONTHS[_name[:3].lower()] = _i
MONTHS["sept"] = 9

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
_DASH = r"\s*(?:-|–|—|to|through|thru|until)\s*"

# "Oct 21", "October 21st, 2025", "Oct 21-25, 2025", "Dec 20 - Jan 5", "Dec 20, 2024 - Jan 5, 2025"
_MONTH_FIRST = re.compile(
    rf"\b(?P<m1>{_MONTH})\s+(?P<d1>{_DAY})(?:,?\s+(?P<y1>{_YEAR}))?"
    rf"(?:{_DASH}(?:(?P<m2>{_MONTH})\s+)?(?P<d2>{_DAY})(?:,?\s+(?P<y2>{_YEAR}))?)?(?!\d|:\d)",
    re.IGNORECASE,
)
# "21 October 2025", "21-25 Oct 2025", "5th of December"
_DAY_FIRST = re.compile(
    rf"\b(?P<d1>{_DAY})(?:{_DASH}(?P<d2>{_DAY}))?\s+(?:of\s+)?(?P<m1>{_MONTH})(?:,?\s+(?P<y1>{_YEAR}))?\b",
    re.IGNORECASE,
)
_ISO = re.compile(
    r"(?<![\d-])(?P<y1>(?:19|20)\d{2})-(?P<m1>[01]\d)-(?P<d1>[0-3]\d)"
    r"(?:(?:\s*(?:–|—|to|through)\s*|\s+-\s+|/)(?P<y2>(?:19|20)\d{2})-(?P<m2>[01]\d)-(?P<d2>[0-3]\d))?(?![\d])"
)
_US = re.compile(r"(?<![\d/])(?P<m1>1[0-2]|0?[1-9])/(?P<d1>[12]\d|3[01]|0?[1-9])/(?P<y1>(?:19|20)?\d{2})(?![\d/])")
_PART_OF_MONTH = re.compile(
    rf"\b(?P<part>end\s+of|late|mid|middle\s+of|early|beginning\s+of|start\s+of)[\s-]+(?P<m1>{_MONTH})"
    rf"(?:,?\s+(?P<y1>{_YEAR}))?\b",
    re.IGNORECASE,
)
_FILENAME_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[-_.]?([01]\d)[-_.]?([0-3]\d)(?!\d)")


@dataclass(frozen=True)
class DateMention:
    start: date
    end: date
    text: str
    span: tuple[int, int]
    has_year: bool

    @property
    def is_range(self) -> bool:
        return self.start != self.end


def month_number(token: str) -> int | None:
    return MONTHS.get(token.lower().rstrip("."))


def _day(token: str) -> int:
    return int(re.match(r"\d+", token)[0])  # type: ignore[index]


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def closest_year(month: int, day: int, reference: date) -> date | None:
    """The date with this month/day nearest to `reference` (previous, same or next year)."""
    options = [_safe_date(reference.year + dy, month, day) for dy in (-1, 0, 1)]
    valid = [d for d in options if d is not None]
    if not valid:
        return None
    return min(valid, key=lambda d: abs((d - reference).days))


def _resolve(month: int, day: int, year: str | None, reference: date | None) -> date | None:
    if year:
        return _safe_date(int(year), month, day)
    if reference is None:
        return None
    return closest_year(month, day, reference)


def _end_after(start: date, month: int, day: int, year: str | None) -> date | None:
    """The end of a range: explicit year, else the first such day on or after the start."""
    if year:
        return _safe_date(int(year), month, day)
    end = _safe_date(start.year, month, day)
    if end is not None and end < start:
        end = _safe_date(start.year + 1, month, day)
    return end


def find_dates(text: str, reference: date | None = None) -> list[DateMention]:
    """Every date or date range in `text`, in order; yearless ones need a `reference`."""
    found: list[DateMention] = []
    taken: list[tuple[int, int]] = []

    def free(span: tuple[int, int]) -> bool:
        return all(span[1] <= a or span[0] >= b for a, b in taken)

    def add(start: date | None, end: date | None, m: re.Match[str], has_year: bool) -> None:
        if start is None or end is None or end < start or not free(m.span()):
            return
        taken.append(m.span())
        found.append(DateMention(start, end, m.group(0), m.span(), has_year))

    for m in _ISO.finditer(text):
        start = _safe_date(int(m["y1"]), int(m["m1"]), int(m["d1"]))
        end = start
        if m["y2"] and start:
            end = _safe_date(int(m["y2"]), int(m["m2"]), int(m["d2"]))
        add(start, end, m, True)

    for m in _MONTH_FIRST.finditer(text):
        month1 = month_number(m["m1"])
        if month1 is None:
            continue
        # "Oct 21-25, 2025": the trailing year belongs to the whole range.
        year1 = m["y1"] or (m["y2"] if m["d2"] else None)
        start = _resolve(month1, _day(m["d1"]), year1, reference)
        end = start
        if start and m["d2"]:
            month2 = month_number(m["m2"]) if m["m2"] else month1
            end = _end_after(start, month2 or month1, _day(m["d2"]), m["y2"])
        add(start, end, m, bool(year1))

    for m in _DAY_FIRST.finditer(text):
        month1 = month_number(m["m1"])
        if month1 is None:
            continue
        start = _resolve(month1, _day(m["d1"]), m["y1"], reference)
        end = _end_after(start, month1, _day(m["d2"]), m["y1"]) if start and m["d2"] else start
        add(start, end, m, bool(m["y1"]))

    for m in _US.finditer(text):
        year = int(m["y1"])
        year = year + 2000 if year < 100 else year
        us_date = _safe_date(year, int(m["m1"]), int(m["d1"]))
        add(us_date, us_date, m, True)

    for m in _PART_OF_MONTH.finditer(text):
        month = month_number(m["m1"])
        if month is None:
            continue
        anchor = _resolve(month, 15, m["y1"], reference)
        if anchor is None:
            continue
        last = calendar.monthrange(anchor.year, month)[1]
        part = m["part"].lower()
        if part.startswith(("end", "late")):
            day = last
        elif part.startswith(("mid", "middle")):
            day = 15
        else:
            day = 1
        point = date(anchor.year, month, day)
        add(point, point, m, bool(m["y1"]))

    found.sort(key=lambda d: d.span[0])
    return found


def first_date(text: str, reference: date | None = None) -> DateMention | None:
    mentions = find_dates(text, reference)
    return mentions[0] if mentions else None


def date_from_filename(name: str) -> date | None:
    m = _FILENAME_DATE.search(name)
    return _safe_date(int(m[1]), int(m[2]), int(m[3])) if m else None


def clock(seconds: float | None) -> str:
    """Seconds into a recording as HH:MM:SS ("" when unknown)."""
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
