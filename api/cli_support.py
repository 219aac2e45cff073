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
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

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


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2, ensure_ascii=False) + "\n")


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
