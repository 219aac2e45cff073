"""How web pages are drawn: the Jinja environment (autoescaping always on), the filters that turn
note text into safe HTML (highlighted words, citation links), and the cost chart as SVG.

Note text only ever reaches a page through `escape`: markup in a note is shown, never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from minutebook.cache.report import usd
from minutebook.core.dates import clock
from minutebook.search.hybrid import highlight

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
_MARKERS = re.compile(r"[\x02\x03]")
_CITE = re.compile(r"\[(\d{1,3})\]")


# What a passage holding items of each kind is called in a list ("Holding: priorities"); a kind
# with no entry is shown as written rather than given a made-up plural
KIND_PLURALS = {
    "action": "action items",
    "risk": "risks",
    "decision": "decisions",
    "priority": "priorities",
    "milestone": "milestones",
}


def kind_plural(kind: str) -> str:
    return KIND_PLURALS.get(kind, kind)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        marked=marked,
        cited=cited,
        money=money,
        when=when,
        ago=ago,
        clock=clock,
        citation_href=citation_href,
        kind_plural=kind_plural,
    )
    return env


def marked(text: str, query: str) -> Markup:
    """The text, escaped, with the words the query matched wrapped in <mark>."""
    plain = _MARKERS.sub("", text)
    found = highlight(plain, query, start="\x02", end="\x03")
    return Markup(str(escape(found)).replace("\x02", "<mark>").replace("\x03", "</mark>"))


def citation_href(citation: Any) -> str:
    """The meeting page, its cited lines highlighted and scrolled to."""
    start, end = int(citation.line_start), int(citation.line_end)
    return f"/meetings/{int(citation.meeting_id)}?lines={start}-{end}#L{start}"


def cited(text: str, citations: list[Any]) -> Markup:
    """The answer, escaped, each [n] a link to the passage it cites."""
    by_number = {int(c.n): c for c in citations}

    def link(m: re.Match[str]) -> str:
        c = by_number.get(int(m[1]))
        if c is None:
            return m[0]
        page = f"p. {c.page}, " if c.page is not None else ""  # a PDF's page
        where = escape(f"{c.meeting_title}, {c.section}, {page}lines {c.line_start}–{c.line_end}")
        return f'<a class="cite" href="{escape(citation_href(c))}" title="{where}">[{int(m[1])}]</a>'

    return Markup(_CITE.sub(link, str(escape(text))))


def money(value: Decimal | float | None) -> str:
    """Dollars written one way on every page and in the CLI (see `usd`)."""
    return usd(value)


def when(value: date | datetime | None) -> str:
    if value is None:
        return "undated"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return ""
    seconds = ((now or datetime.now(value.tzinfo)) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            break
    else:
        amount = f"{int(seconds)} s"
    return f"in {amount}" if future else f"{amount} ago"


@dataclass(frozen=True)
class Bar:
    day: date
    spend: float
    saved_exact: float
    saved_semantic: float


def daily_bars(groups: list[dict[str, Any]], since: datetime, until: datetime) -> list[Bar]:
    """One bar per day of the window, zero on days nothing happened."""
    by_day = {str(g["key"]): g for g in groups}
    first, last = since.astimezone().date(), until.astimezone().date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)][-120:]
    bars = []
    for day in days:
        g = by_day.get(day.isoformat(), {})
        bars.append(
            Bar(
                day,
                float(g.get("spend_usd") or 0),
                float(g.get("saved_exact_usd") or 0),
                float(g.get("saved_semantic_usd") or 0),
            )
        )
    return bars


SERIES = (
    ("spend", "LLM spend", "#b3261e"),
    ("saved_exact", "saved by exact hits", "#1b6e3a"),
    ("saved_semantic", "saved by semantic hits", "#5aa469"),
)


def cost_chart(bars: list[Bar]) -> Markup:
    """Stacked bars per day as SVG (no script, no inline style: the CSP allows neither)."""
    width, height, pad = 720, 220, 64
    top = max((b.spend + b.saved_exact + b.saved_semantic for b in bars), default=0.0) or 1.0
    slot = (width - pad - 10) / max(len(bars), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 30}" role="img" aria-labelledby="chart-title">',
        '<title id="chart-title">LLM spend and cache savings per day</title>',
        f'<line x1="{pad}" y1="{height}" x2="{width - 10}" y2="{height}" stroke="#555"/>',
        f'<text x="{pad - 4}" y="12" text-anchor="end" font-size="10" fill="#333">{usd(top)}</text>',
        f'<text x="{pad - 4}" y="{height}" text-anchor="end" font-size="10" fill="#333">$0</text>',
    ]
    for i, bar in enumerate(bars):
        x = pad + i * slot + slot * 0.1
        y = float(height)
        for key, label, colour in SERIES:
            value = getattr(bar, key)
            if value <= 0:
                continue
            h = value / top * (height - 20)
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{bar.day.isoformat()}: {label} {usd(value)}</title></rect>"
            )
        if len(bars) <= 14 or i % max(len(bars) // 7, 1) == 0:
            parts.append(
                f'<text x="{x + slot * 0.4:.1f}" y="{height + 14}" text-anchor="middle" font-size="10" fill="#333">'
                f"{bar.day.strftime('%b %d')}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Block:
    """A run of the note's lines: one passage (with its section), or lines between passages."""

    section: str | None
    speakers: list[str]
    time_start: float | None
    lines: list[tuple[int, str]]


def note_blocks(lines: list[str], passages: list[Any]) -> list[Block]:
    """The note's lines in order, grouped by the passage that holds them."""
    blocks: list[Block] = []
    n = 1
    for p in sorted(passages, key=lambda p: p.line_start):
        if p.line_start < n:
            continue  # overlapping spans: the earlier passage already shows these lines
        if p.line_start > n:
            blocks.append(
                Block(None, [], None, [(i, lines[i - 1]) for i in range(n, min(p.line_start, len(lines) + 1))])
            )
        end = min(p.line_end, len(lines))
        blocks.append(
            Block(
                " › ".join(p.section),
                list(p.speakers),
                p.time_start,
                [(i, lines[i - 1]) for i in range(p.line_start, end + 1)],
            )
        )
        n = end + 1
    if n <= len(lines):
        blocks.append(Block(None, [], None, [(i, lines[i - 1]) for i in range(n, len(lines) + 1)]))
    return [b for b in blocks if b.lines]


def line_span(text: str | None) -> tuple[int, int] | None:
    """ "41-47" or "41" → (41, 47); anything else → None."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d{1,7})\s*(?:[-–]\s*(\d{1,7}))?\s*", text)
    if not m:
        return None
    start = int(m[1])
    end = int(m[2]) if m[2] else start
    return (start, end) if start <= end else (end, start)
