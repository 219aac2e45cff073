"""What every command shares: settings from flags, clear one-line errors, JSON output."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from minutebook.core.errors import MinutebookError
from minutebook.core.settings import Settings, load_settings

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
