"""Calendar dates as people write them in notes: "Oct 21-25, 2025", "Nov 15", "Dec 20 - Jan 5".

Dates without a year take the year that puts them closest to a reference date (the meeting's),
so "Jan 6" in a November 2024 meeting is 2025-01-06 and "Oct 21" in an Oct 2025 week is 2025.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import islice
from typing import Literal, get_args

from minutebook.core.errors import IngestError

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
# "30 Jan - 1 Feb 2013", "28 December 2024 to 3 January 2025"
_DAY_FIRST_SPAN = re.compile(
    rf"\b(?P<d1>{_DAY})\s+(?:of\s+)?(?P<m1>{_MONTH})(?:,?\s+(?P<y1>{_YEAR}))?{_DASH}"
    rf"(?P<d2>{_DAY})\s+(?:of\s+)?(?P<m2>{_MONTH})(?:,?\s+(?P<y2>{_YEAR}))?\b",
    re.IGNORECASE,
)
_ISO = re.compile(
    r"(?<![\d-])(?P<y1>(?:19|20)\d{2})-(?P<m1>[01]\d)-(?P<d1>[0-3]\d)"
    r"(?:(?:\s*(?:–|—|to|through)\s*|\s+-\s+|/)(?P<y2>(?:19|20)\d{2})-(?P<m2>[01]\d)-(?P<d2>[0-3]\d))?(?![\d])"
)
# "11/15/2024", "30.01.2013", "(30/01/13 - 01/02/13)": which number is the day is decided later
_NUM_DATE = r"(?P<a{n}>\d{{1,2}})(?P<s{n}>[/.])(?P<b{n}>\d{{1,2}})(?P=s{n})(?P<y{n}>(?:19|20)?\d{{2}})"
_NUMERIC = re.compile(
    rf"(?<![\d/.])(?:{_NUM_DATE.format(n=1)})(?:\s*(?:-|–|—|to)\s*(?:{_NUM_DATE.format(n=2)}))?(?![\d/]|\.\d)"
)
_MONTH_YEAR = re.compile(rf"\b(?P<m1>{_MONTH})(?:\s+of|,)?\s+(?P<y1>{_YEAR})\b", re.IGNORECASE)
_QUARTER = re.compile(
    rf"\b(?:Q(?P<q1>[1-4])\s*(?:of\s+)?['’]?(?P<y1>{_YEAR}|\d{{2}}(?!\d))|(?P<y2>{_YEAR})[\s-]*Q(?P<q2>[1-4]))\b",
    re.IGNORECASE,
)
_PART_OF_MONTH = re.compile(
    rf"\b(?P<part>end\s+of|late|mid|middle\s+of|early|beginning\s+of|start\s+of)[\s-]+(?P<m1>{_MONTH})"
    rf"(?:,?\s+(?P<y1>{_YEAR}))?\b",
    re.IGNORECASE,
)
_FILENAME_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[-_.]?([01]\d)[-_.]?([0-3]\d)(?!\d)")


# A line (or field) holding more date mentions than this was not written by hand: a schedule row has
# a few dozen at most. find_dates reads only the first ones, so one line costs bounded work.
MAX_DATES_PER_TEXT = 200
# Date matches one note's parsers may read in all (each find_dates call counts, so a line read by
# three rules counts three times). Far above what the densest real notes read for their size (see
# tests/test_parser_growth.py); past it a note is a dump of dates, not minutes, and fails with that reason.
MAX_DATE_MATCHES_PER_NOTE = 250_000
# Characters one note's date search may read, as a multiple of the note's length: each line is read
# by a handful of rules (meeting date, fields, due dates). Far past that, a parser is re-reading text
# it has read already (the quadratic bug of issue 23), and the note fails instead of costing hours.
DATE_SCAN_FACTOR = 40
DATE_SCAN_SLACK = 100_000  # short notes: a header read by several rules is still cheap


class ParseBudget:
    """The parse work one note may cost, counted deterministically (date matches and characters
    read by find_dates), carried through parse and extraction with `active()`. Past a limit the note
    fails with an IngestError naming the file and the reason, before anything is stored."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.matches = 0
        self.scanned = 0
        self.max_matches = MAX_DATE_MATCHES_PER_NOTE
        self.max_scanned = DATE_SCAN_FACTOR * size + DATE_SCAN_SLACK

    def charge(self, *, matches: int, scanned: int) -> None:
        self.matches += matches
        self.scanned += scanned
        if self.matches > self.max_matches:
            raise IngestError(
                f"{self.name}: too complex to parse: more than {self.max_matches:,} date mentions "
                "(meeting notes hold far fewer); nothing from it was stored"
            )
        if self.scanned > self.max_scanned:
            raise IngestError(
                f"{self.name}: too complex to parse: reading its dates took more than {DATE_SCAN_FACTOR} "
                "passes over the note; nothing from it was stored"
            )

    @contextmanager
    def active(self) -> Iterator[ParseBudget]:
        """Charge every find_dates call made inside the block to this budget."""
        token = _BUDGET.set(self)
        try:
            yield self
        finally:
            _BUDGET.reset(token)


_BUDGET: ContextVar[ParseBudget | None] = ContextVar("minutebook_parse_budget", default=None)


class _Taken:
    """Spans already read as dates: sorted and disjoint. The matches of one pattern arrive in order,
    so each is checked by walking forward through these once per pattern, not against all of them."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self._new: list[tuple[int, int]] = []
        self._at = 0

    def next_pattern(self) -> None:
        self.spans = sorted(self.spans + self._new)  # two sorted runs: Timsort merges them linearly
        self._new, self._at = [], 0

    def free(self, span: tuple[int, int]) -> bool:
        spans = self.spans
        while self._at < len(spans) and spans[self._at][1] <= span[0]:
            self._at += 1
        return self._at == len(spans) or spans[self._at][0] >= span[1]

    def take(self, span: tuple[int, int]) -> None:
        self._new.append(span)  # one pattern's matches never overlap each other


Precision = Literal["day", "range", "month", "quarter"]
NumericOrder = Literal["dmy", "mdy"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)


@dataclass(frozen=True)
class DateMention:
    start: date
    end: date
    text: str
    span: tuple[int, int]
    has_year: bool
    precision: Precision = "day"  # "range" when a span of days, "month"/"quarter" for coarse forms
    ambiguous: bool = False  # a numeric date whose day/month order nothing decided

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


def _numeric_reading(m: re.Match[str], order: NumericOrder | None) -> tuple[date, date, bool] | None:
    """(start, end, ambiguous) of a numeric date or range: the day/month order is the one under
    which every part is a valid date and a range runs forward over at most two months; when both
    orders fit, dots mean day first, then the tenant's `order`, else month first (marked ambiguous)."""

    def read(n: str, first: str) -> date | None:
        year = int(m[f"y{n}"])
        year = year + 2000 if year < 100 else year
        a, b = int(m[f"a{n}"]), int(m[f"b{n}"])
        return _safe_date(year, a, b) if first == "m" else _safe_date(year, b, a)

    fits: dict[NumericOrder, tuple[date, date]] = {}
    for candidate, first in (("mdy", "m"), ("dmy", "d")):
        start = read("1", first)
        end = read("2", first) if m["a2"] else start
        if start and end and start <= end <= start + timedelta(days=62):
            fits[candidate] = (start, end)  # type: ignore[index]
    if not fits:
        return None
    if len(fits) == 1 or len(set(fits.values())) == 1:
        start, end = next(iter(fits.values()))
        return start, end, False
    if m["s1"] == ".":
        return (*fits["dmy"], False)
    if order is not None:
        return (*fits[order], False)
    return (*fits["mdy"], True)


def numeric_order_votes(text: str) -> dict[NumericOrder, int]:
    """How many numeric dates in `text` can only be read day-first or only month-first: the
    evidence that decides a tenant's ambiguous ones."""
    votes: dict[NumericOrder, int] = {"dmy": 0, "mdy": 0}
    for m in _NUMERIC.finditer(text):
        reading = _numeric_reading(m, None)
        if reading is None or reading[2]:
            continue
        a, b = int(m["a1"]), int(m["b1"])
        if a > 12 >= b or (m["a2"] and int(m["a2"]) > 12 >= int(m["b2"])):
            votes["dmy"] += 1
        elif b > 12 >= a or (m["a2"] and int(m["b2"]) > 12 >= int(m["a2"])):
            votes["mdy"] += 1
    return votes


def prevailing_order(votes: dict[str, int]) -> NumericOrder | None:
    """The order most of a tenant's decidable numeric dates use; None on a tie."""
    dmy, mdy = votes.get("dmy", 0), votes.get("mdy", 0)
    if dmy == mdy:
        return None
    return "dmy" if dmy > mdy else "mdy"


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def find_dates(
    text: str,
    reference: date | None = None,
    *,
    coarse: bool = False,
    numeric_order: NumericOrder | None = None,
) -> list[DateMention]:
    """Every date or date range in `text`, in order; yearless ones need a `reference`.

    `coarse` also finds months and quarters with a year ("October 2022", "Q3 2024"), which say
    when a meeting was but are too vague for a due date. `numeric_order` is the tenant's day/month
    order for numeric dates that fit both. Reads at most MAX_DATES_PER_TEXT matches of each form,
    in time linear in the text; the work is charged to the active ParseBudget, if any."""
    found: list[DateMention] = []
    taken = _Taken()
    matches = 0

    def each(pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        nonlocal matches
        taken.next_pattern()
        for m in islice(pattern.finditer(text), MAX_DATES_PER_TEXT):
            matches += 1
            yield m

    def add(
        start: date | None,
        end: date | None,
        m: re.Match[str],
        has_year: bool,
        precision: Precision | None = None,
        ambiguous: bool = False,
    ) -> None:
        if start is None or end is None or end < start or not taken.free(m.span()):
            return
        taken.take(m.span())
        kind: Precision = precision or ("range" if end != start else "day")
        found.append(DateMention(start, end, m.group(0), m.span(), has_year, kind, ambiguous))

    for m in each(_ISO):
        start = _safe_date(int(m["y1"]), int(m["m1"]), int(m["d1"]))
        end = start
        if m["y2"] and start:
            end = _safe_date(int(m["y2"]), int(m["m2"]), int(m["d2"]))
        add(start, end, m, True)

    for m in each(_MONTH_FIRST):
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

    for m in each(_DAY_FIRST_SPAN):
        month1, month2 = month_number(m["m1"]), month_number(m["m2"])
        if month1 is None or month2 is None:
            continue
        year1 = m["y1"] or m["y2"]
        start = _resolve(month1, _day(m["d1"]), year1, reference)
        end = _end_after(start, month2, _day(m["d2"]), m["y2"]) if start else None
        if start and end and m["y1"] is None and end < start:
            start = _safe_date(start.year - 1, start.month, start.day)  # "28 Dec - 3 Jan 2025"
        add(start, end, m, bool(year1))

    for m in each(_DAY_FIRST):
        month1 = month_number(m["m1"])
        if month1 is None:
            continue
        start = _resolve(month1, _day(m["d1"]), m["y1"], reference)
        end = _end_after(start, month1, _day(m["d2"]), m["y1"]) if start and m["d2"] else start
        add(start, end, m, bool(m["y1"]))

    for m in each(_NUMERIC):
        if (reading := _numeric_reading(m, numeric_order)) is not None:
            add(reading[0], reading[1], m, True, ambiguous=reading[2])

    for m in each(_PART_OF_MONTH):
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

    if coarse:
        for m in each(_MONTH_YEAR):
            if (month := month_number(m["m1"])) is not None:
                year = int(m["y1"])
                add(date(year, month, 1), _month_end(year, month), m, True, "month")
        for m in each(_QUARTER):
            quarter = int(m["q1"] or m["q2"])
            raw = m["y1"] or m["y2"]
            year = int(raw) + (2000 if len(raw) == 2 else 0)
            first = 3 * quarter - 2
            add(date(year, first, 1), _month_end(year, first + 2), m, True, "quarter")

    if (budget := _BUDGET.get()) is not None:
        budget.charge(matches=matches, scanned=len(text))
    found.sort(key=lambda d: d.span[0])
    return found[:MAX_DATES_PER_TEXT]


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


def span_precision(start: date, end: date) -> Precision:
    """What a span of days most likely was when written: a whole month, a quarter, a range, a day."""
    if start == end:
        return "day"
    if start.day == 1 and end == _month_end(end.year, end.month) and start.year == end.year:
        if start.month == end.month:
            return "month"
        if start.month % 3 == 1 and end.month == start.month + 2:
            return "quarter"
    return "range"


def describe_date(start: date | None, end: date | None, precision: str | None = None) -> str:
    """A stored meeting date as people write it: "2022-11-07", "2013-01-30 – 2013-02-01",
    "October 2022", "Q3 2024"; "" when undated. Without a stored precision the span decides."""
    if start is None:
        return ""
    end = end or start
    precision = precision or span_precision(start, end)
    if precision == "month":
        return f"{calendar.month_name[start.month]} {start.year}"
    if precision == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return start.isoformat() if end == start else f"{start.isoformat()} – {end.isoformat()}"


def parse_given_date(text: str) -> DateMention:
    """A date a user types to fix a meeting: "2022-11-07", "2013-01-30..2013-02-01", "2022-10",
    "October 2022", "Q3 2024", "30 Jan - 1 Feb 2013". ValueError when it is not one date."""
    cleaned = text.strip()
    shown = repr(cleaned[:40] + ("…" if len(cleaned) > 40 else ""))
    if m := re.fullmatch(r"((?:19|20)\d{2})-([01]\d)", cleaned):
        year, month = int(m[1]), int(m[2])
        if 1 <= month <= 12:
            return DateMention(date(year, month, 1), _month_end(year, month), cleaned, (0, len(cleaned)), True, "month")
    if ".." in cleaned:
        parts = cleaned.split("..")
        if len(parts) == 2:
            a, b = parse_given_date(parts[0]), parse_given_date(parts[1])
            if a.start <= b.end:
                return DateMention(a.start, b.end, cleaned, (0, len(cleaned)), True, "range")
        raise ValueError(f"{shown} is not a date range: use START..END, e.g. 2013-01-30..2013-02-01")
    mentions = find_dates(cleaned, coarse=True)
    if len(mentions) == 1 and len(mentions[0].text) >= len(cleaned.strip("() ,.")) - 1:
        if mentions[0].ambiguous:
            raise ValueError(f"{shown} could be read day-first or month-first: write it as YYYY-MM-DD")
        return mentions[0]
    raise ValueError(
        f"{shown} is not a date: write YYYY-MM-DD, a range START..END, a month (2022-10, October 2022) "
        "or a quarter (Q3 2024)"
    )
