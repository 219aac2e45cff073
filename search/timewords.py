"""Time words in a question → a date window, read relative to a reference date (today or --as-of).

"last week" on Wed 2025-11-26 is Mon 2025-11-17 .. Sun 2025-11-23; "in November" is the most
recent November that has begun; "since Oct 21" runs to the reference date; "Q4" is the most
recent fourth quarter that has begun. The phrase found is returned so it can be shown
("interpreted as 2025-11-17 .. 2025-11-23") and removed from the text that is searched.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from minutebook.core.dates import find_dates, month_number
from minutebook.core.errors import QueryError

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a": 1,
    "couple of": 2,
    "few": 3,
}


@dataclass(frozen=True)
class TimeWindow:
    start: date | None
    end: date | None
    phrase: str  # the words that were read as time

    def describe(self) -> str:
        if self.start and self.end:
            return f"{self.start.isoformat()} .. {self.end.isoformat()}"
        if self.start:
            return f"since {self.start.isoformat()}"
        if self.end:
            return f"until {self.end.isoformat()}"
        return "any time"

    def key(self) -> str:
        """Stable text for cache keys: the resolved window, not the words."""
        return f"{self.start or ''}..{self.end or ''}"


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _quarter_range(year: int, quarter: int) -> tuple[date, date]:
    first = 3 * (quarter - 1) + 1
    return date(year, first, 1), _month_range(year, first + 2)[1]


def _latest_month(month: int, today: date) -> int:
    """Year of the most recent such month that has begun."""
    return today.year if month <= today.month else today.year - 1


def _count(text: str) -> int:
    text = text.strip().lower()
    return int(text) if text.isdigit() else _NUMBER_WORDS.get(text, 1)


_DATE_WORDS = (
    r"(?:"
    + _MONTH
    + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?(?!\d)(?:,?\s+\d{4})?|\d{4}-\d{2}-\d{2}|"
    + _MONTH
    + r"(?:\s+\d{4})?)"
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\bbetween\s+(?P<a>{_DATE_WORDS})\s+and\s+(?P<b>{_DATE_WORDS})", re.I), "between"),
    (
        re.compile(
            r"\b(?:since|after|from)\s+(?P<a>(?:" + _MONTH + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?(?!\d)(?:,?\s+\d{4})?"
            r"|\d{4}-\d{2}-\d{2}|" + _MONTH + r"(?:\s+\d{4})?|last\s+week|last\s+month|yesterday))",
            re.I,
        ),
        "since",
    ),
    (
        re.compile(
            r"\b(?:before|until|till|by)\s+(?P<a>(?:" + _MONTH + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?(?!\d)(?:,?\s+\d{4})?"
            r"|\d{4}-\d{2}-\d{2}))",
            re.I,
        ),
        "until",
    ),
    (
        re.compile(
            r"\b(?:in\s+the\s+)?(?:past|last)\s+(?P<n>\d+|one|two|three|four|five|six|seven|eight|nine|ten|"
            r"couple of|few)\s+(?P<unit>days?|weeks?|months?)\b",
            re.I,
        ),
        "past",
    ),
    (
        re.compile(r"\b(?P<which>last|this|previous|next)\s+(?P<unit>week|month|quarter|year)\b", re.I),
        "relative",
    ),
    (re.compile(r"\b(?P<day>yesterday|today)\b", re.I), "day"),
    (re.compile(r"\b(?:in\s+)?Q(?P<q>[1-4])(?:\s*(?P<y>\d{4}))?\b", re.I), "quarter"),
    (
        re.compile(
            r"\b(?:(?:at|in|by|towards?|around)\s+the\s+)?(?P<part>end\s+of|late|mid|middle\s+of|early|"
            r"beginning\s+of|start\s+of)[\s-]+(?:(?P<m>"
            + _MONTH
            + r")\.?(?:,?\s+(?P<y>\d{4}))?|(?P<year>(?:19|20)\d{2}))\b",
            re.I,
        ),
        "part",
    ),
    (
        re.compile(r"\b(?:in|during|for)\s+(?P<m>" + _MONTH + r")\b(?:\s+(?P<y>\d{4}))?(?!\s+\d{1,2}\b)", re.I),
        "month",
    ),
    (re.compile(r"\b(?:in|during)\s+(?P<y>(?:19|20)\d{2})\b", re.I), "year"),
    (
        re.compile(
            # "on April 8, 2022", "the call of March 4, 2022", "the meeting of 4 March 2022", "dated 2022-03-04",
            # "the meeting on the 3rd of March"
            r"\b(?:on|of|dated)\s+(?P<a>" + _MONTH + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?(?!\d)(?:,?\s+\d{4})?"
            r"|(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"\.?(?:,?\s+\d{4})?|\d{4}-\d{2}-\d{2})",
            re.I,
        ),
        "on",
    ),
]


def _point(text: str, today: date, *, end: bool = False) -> date | None:
    text = re.sub(r"^the\s+|(?<=\d)(?:st|nd|rd|th)?\s+of(?=\s)", "", text.strip(), flags=re.I)  # "the 3rd of March"
    low = text.lower()
    if low == "yesterday":
        return today - timedelta(days=1)
    if low == "last week":
        start = _week_start(today) - timedelta(days=7)
        return start + timedelta(days=6) if end else start
    if low == "last month":
        first = today.replace(day=1) - timedelta(days=1)
        return _month_range(first.year, first.month)[1 if end else 0]
    mentions = find_dates(text, today)
    if mentions:
        # a yearless date in a question means the most recent one, not a future one
        m = mentions[0]
        d = m.end if end else m.start
        if not m.has_year and d > today:
            d = d.replace(year=d.year - 1)
        return d
    m = re.fullmatch(rf"(?P<m>{_MONTH})\.?(?:\s+(?P<y>\d{{4}}))?", low)
    if m and (month := month_number(m["m"])):
        year = int(m["y"]) if m["y"] else _latest_month(month, today)
        return _month_range(year, month)[1 if end else 0]
    return None


def parse_time_window(question: str, today: date) -> TimeWindow | None:
    """The first time expression in `question`, resolved against `today`; None when there is none."""
    for pattern, kind in _PATTERNS:
        m = pattern.search(question)
        if not m:
            continue
        try:
            window = _resolve(kind, m, today)
        except (OverflowError, ValueError):  # "next year" as of 9999-12-31 is past the calendar's end
            raise QueryError(
                f'"{m.group(0).strip()}" as of {today.isoformat()} falls outside the years 1..9999'
            ) from None
        if window is not None:
            start, end = window
            return TimeWindow(start, end, m.group(0).strip())
    return None


def _resolve(kind: str, m: re.Match[str], today: date) -> tuple[date | None, date | None] | None:
    if kind == "between":
        a, b = _point(m["a"], today), _point(m["b"], today, end=True)
        return (a, b) if a and b and a <= b else None
    if kind == "since":
        a = _point(m["a"], today)
        return (a, today) if a else None
    if kind == "until":
        b = _point(m["a"], today, end=True)
        return (None, b) if b else None
    if kind == "on":
        d = _point(m["a"], today)
        return (d, d) if d else None
    if kind == "past":
        n, unit = _count(m["n"]), m["unit"].lower()
        days = n * {"d": 1, "w": 7, "m": 30}[unit[0]]
        return today - timedelta(days=days), today
    if kind == "day":
        d = today if m["day"].lower() == "today" else today - timedelta(days=1)
        return d, d
    if kind == "relative":
        which, unit = m["which"].lower(), m["unit"].lower()
        step = {"last": -1, "previous": -1, "this": 0, "next": 1}[which]
        if unit == "week":
            start = _week_start(today) + timedelta(days=7 * step)
            return start, start + timedelta(days=6)
        if unit == "month":
            month_index = today.year * 12 + today.month - 1 + step
            return _month_range(month_index // 12, month_index % 12 + 1)
        if unit == "quarter":
            q_index = today.year * 4 + (today.month - 1) // 3 + step
            return _quarter_range(q_index // 4, q_index % 4 + 1)
        year = today.year + step
        return date(year, 1, 1), date(year, 12, 31)
    if kind == "quarter":
        q = int(m["q"])
        if m["y"]:
            return _quarter_range(int(m["y"]), q)
        start, end = _quarter_range(today.year, q)
        return (start, end) if start <= today else _quarter_range(today.year - 1, q)
    if kind == "part":
        return _part_range(m, today)
    if kind == "month":
        month = month_number(m["m"])
        if month is None:
            return None
        year = int(m["y"]) if m["y"] else _latest_month(month, today)
        return _month_range(year, month)
    if kind == "year":
        year = int(m["y"])
        return date(year, 1, 1), date(year, 12, 31)
    return None


def _part_range(m: re.Match[str], today: date) -> tuple[date, date] | None:
    """ "the end of May 2025" → 21-31 May; "early 2024" → January-April 2024: thirds of the span."""
    part = m["part"].lower()
    third = 0 if part.startswith(("early", "beginning", "start")) else 1 if part.startswith("mid") else 2
    if m["year"]:
        year = int(m["year"])
        return date(year, 4 * third + 1, 1), _month_range(year, 4 * third + 4)[1]
    month = month_number(m["m"])
    if month is None:
        return None
    year = int(m["y"]) if m["y"] else _latest_month(month, today)
    first, last = _month_range(year, month)
    starts = (1, 11, 21)
    return first.replace(day=starts[third]), (last if third == 2 else first.replace(day=starts[third + 1] - 1))


def strip_time_phrase(question: str, window: TimeWindow | None) -> str:
    """The question without its time words, so they do not steer the text match."""
    if window is None:
        return question
    stripped = question.replace(window.phrase, " ")
    return re.sub(r"\s+", " ", stripped).strip(" ,") or question
