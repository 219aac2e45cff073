"""What every command shares: settings from flags, clear one-line errors, JSON output.

CLI modules import only typer, rich and this module at the top: what a command needs (the
database, the model, search) is imported inside the command, so `minutebook --help` and the
commands that need no model start in a fraction of a second.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from minutebook.core.errors import MinutebookError

if TYPE_CHECKING:
    from minutebook.core.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


# C0 controls but tab and newline, DEL and C1: ESC[2J in a note must not clear the user's screen
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: object) -> str:
    """Text from notes (or an LLM) made inert for a terminal: control characters removed."""
    return _CONTROL.sub("", str(text))


def safe(text: object) -> str:
    """Text from notes for a Rich string that also holds markup: inert, and `[...]` shown as written."""
    return escape(clean(text))


def settings_from(tenant: str | None = None) -> Settings:
    from pydantic import ValidationError

    from minutebook.core.settings import load_settings

    try:
        return load_settings(tenant=tenant)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MinutebookError(f"invalid settings: {problems}") from exc


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Known errors become one red line on stderr and exit code 1; no tracebacks for users."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except MinutebookError as exc:
            err_console.print(f"[red]error:[/red] {safe(exc)}", highlight=False, markup=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; every finished note is saved, the one in progress is not")
            raise typer.Exit(130) from None

    return wrapper


def _default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# Code points JSON may carry raw but a terminal acts on (json.dumps already escapes C0): DEL and
# C1 (U+009B is a one-byte CSI), the bidi embeddings, overrides and isolates that reorder what is
# shown, and the line/paragraph separators some readers take for newlines. Escaped as \uXXXX they
# stay in the data, inert on screen.
_JSON_INERT = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def print_json(data: Any) -> None:
    """JSON with non-ASCII text as written, but every control character escaped."""
    text = json.dumps(data, default=_default, indent=2, ensure_ascii=False)
    sys.stdout.write(_JSON_INERT.sub(lambda m: f"\\u{ord(m[0]):04x}", text) + "\n")


def parse_day(value: str | None, option: str, as_of: date, *, end: bool = False) -> date | None:
    """An ISO date, or time words ("last week", "Oct 21") read against --as-of."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    from minutebook.search.timewords import parse_time_window

    window = parse_time_window(value if " " in value or not value[:1].isalpha() else f"in {value}", as_of)
    window = window or parse_time_window(f"on {value}", as_of)
    if window is None or (window.end if end else window.start) is None:
        raise typer.BadParameter(f"{option} takes a date such as 2025-10-21, 'Oct 21' or 'last week'")
    return window.end if end else window.start


def parse_as_of(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("--as-of takes a date like 2025-11-24") from None


def progress_bar(*, quiet: bool) -> Progress:
    """A bar on stderr for long work; none when output is JSON or stderr is not a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet or not err_console.is_terminal,
    )


# -- tables that fit the terminal

# What a column holds decides how it may be broken to fit: a number (counts, money, times) is
# never broken; "words" (dates, ranges, names) wrap between words but never inside one; free
# text also folds a word longer than FOLD_AT (a path, a URL) instead of widening the column.
Holds = Literal["number", "words", "text"]

# Longer than any date or number written inside free text ("(2025-10-21)," is 13), so those are
# never folded, yet short enough that one long path does not push every other column off screen
FOLD_AT = 16
# What Rich's default box adds: one space either side of each cell plus a rule, and the last rule
PER_COLUMN, TABLE_EDGE = 3, 1


@dataclass(frozen=True)
class Col:
    header: str
    holds: Holds = "text"


def _plain(markup: str) -> str:
    return Text.from_markup(markup).plain


def _widest(words: Sequence[str]) -> int:
    return max((cell_len(w) for w in words), default=0)


def _span(col: Col, cells: list[str]) -> tuple[int, int]:
    """The narrowest and widest this column can usefully be."""
    texts = [_plain(c) for c in cells]
    header_word = _widest(col.header.split())
    longest_line = max(_widest(t.split("\n")) for t in [*texts, col.header])
    longest_word = max(_widest(t.split()) for t in [*texts, ""])
    if col.holds == "number":
        low = max(_widest([t for text in texts for t in text.split("\n")]), header_word)
    elif col.holds == "words":
        low = max(longest_word, header_word)
    else:
        low = max(min(longest_word, FOLD_AT), header_word)
    return low, max(low, longest_line)


def _widths(spans: list[tuple[int, int]], room: int) -> list[int] | None:
    """Each column at least its narrowest; what is left shared out by how much more each wants."""
    widths = [low for low, _ in spans]
    spare = room - sum(widths)
    if spare < 0:
        return None
    wants = [high - low for low, high in spans]
    total = sum(wants)
    if total <= spare:
        return [high for _, high in spans]
    extra = [spare * want // total for want in wants]
    for i in sorted(range(len(spans)), key=lambda i: -wants[i])[: spare - sum(extra)]:
        extra[i] += 1
    return [w + e for w, e in zip(widths, extra, strict=True)]


def _table(cols: Sequence[Col], rows: Sequence[Sequence[str]], widths: list[int], title: str | None) -> Table:
    table = Table(title=title)
    for col, width in zip(cols, widths, strict=True):
        justify: Literal["left", "right"] = "right" if col.holds == "number" else "left"
        table.add_column(col.header, width=width, justify=justify, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def print_table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    key: int = 1,
    narrow: Literal["split", "records"] = "split",
) -> None:
    """A table as wide as the terminal allows, where no number, date or word is ever cut.

    When the columns do not fit side by side even at their narrowest, a table of figures is
    split into several tables stacked one under the other, each repeating the first `key`
    columns ("split"); a table of text becomes one block per row, its `key` cells as the
    block's heading and every other cell on a line of its own ("records").
    """
    columns = [[row[i] for row in rows] for i in range(len(cols))]
    spans = [_span(col, cells) for col, cells in zip(cols, columns, strict=True)]
    width = console.width

    def room(n: int) -> int:
        return width - PER_COLUMN * n - TABLE_EDGE

    widths = _widths(spans, room(len(cols)))
    if widths is not None:
        console.print(_table(cols, rows, widths, title))
        return
    if narrow == "split" and (groups := _groups(spans, key, room)):
        for n, group in enumerate(groups):
            picked = [*range(key), *group]
            fitted = _widths([spans[i] for i in picked], room(len(picked)))
            assert fitted is not None  # _groups only makes groups that fit
            part = [[row[i] for i in picked] for row in rows]
            console.print(_table([cols[i] for i in picked], part, fitted, title if n == 0 else None))
        return
    _print_records(cols, rows, key=key, title=title)


def _groups(spans: list[tuple[int, int]], key: int, room: Callable[[int], int]) -> list[list[int]] | None:
    """The columns after the key ones, in order, in as few tables as fit and of even size (no table
    of one lone column when two of four and five would do); None if a column fits in none."""

    def pack(most: int) -> list[list[int]] | None:
        groups: list[list[int]] = [[]]
        for i in range(key, len(spans)):
            if fixed + spans[i][0] > room(key + 1):
                return None
            group = groups[-1]
            if len(group) == most or fixed + sum(spans[j][0] for j in [*group, i]) > room(key + len(group) + 1):
                groups.append(group := [])
            group.append(i)
        return groups

    fixed = sum(low for low, _ in spans[:key])
    greedy = pack(len(spans))
    if greedy is None:
        return None
    even = pack(-(-(len(spans) - key) // len(greedy)))
    return even if even is not None and len(even) == len(greedy) else greedy


def _print_records(cols: Sequence[Col], rows: Sequence[Sequence[str]], *, key: int, title: str | None) -> None:
    """One block per row: its key cells on the first line, then one line per other cell."""
    if title:
        console.print(f"[italic]{title}[/italic]", soft_wrap=False, overflow="fold")
    label_width = max(cell_len(col.header) for col in cols[key:]) if cols[key:] else 0
    for n, row in enumerate(rows):
        if n or title:
            console.print()
        if key:
            head = " · ".join(cell for cell in row[:key] if _plain(cell))
            console.print(f"[bold]{head}[/bold]" if head else "", soft_wrap=False, overflow="fold")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=label_width + 2, style="dim")
        grid.add_column(overflow="fold")
        for col, cell in zip(cols[key:], row[key:], strict=True):
            if _plain(cell):
                grid.add_row(f"  {col.header}", cell)
        console.print(grid)
