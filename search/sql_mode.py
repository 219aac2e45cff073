"""User-supplied SQL, run so that the database itself keeps it harmless.

One statement (a cursor's DECLARE cannot hold two), SELECT or WITH only, in a READ ONLY
transaction, as the `minutebook_reader` role: row-level security confines it to the caller's
tenant; the role cannot call set_config (so it cannot change tenant or role), take advisory
locks or read other tenants' row counts (sql/009), nor see other sessions' locks, transaction ids,
WAL positions or sequence positions (sql/015). The time limit covers the whole request and
the result is capped in rows and bytes (`truncated`). Anything else is refused with the
database's reason, and nothing is changed.
"""

from __future__ import annotations

import json
import math
import re
import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.range import Range
from psycopg_pool import ConnectionPool

from minutebook.core.database import set_tenant
from minutebook.core.errors import QueryError

READER_ROLE = "minutebook_reader"
_COMMENTS = re.compile(r"(--[^\n]*\n?|/\*.*?\*/)", re.S)


@dataclass(frozen=True)
class SqlLimits:
    """How much one user statement may take: time over the whole request, rows, and bytes."""

    timeout_ms: int = 2000
    max_rows: int = 1000
    max_bytes: int = 5_000_000


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    truncated_reason: str | None = None  # "rows" | "bytes"
    notes: list[str] = field(default_factory=list)  # how values without a JSON form were written


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_BATCH = 20  # rows per FETCH: memory stays bounded by a few rows, not by the result


def json_cell(value: Any) -> Any:
    """A value as JSON can carry it: vectors as lists, bytea as \\x hex, ranges as their
    PostgreSQL text, NaN and infinities as the strings PostgreSQL prints."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE[str(value)]
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else _NON_FINITE.get(str(value).lower(), str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [json_cell(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_cell(v) for k, v in value.items()}
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Range):
        return _range_text(value)
    if hasattr(value, "tolist"):  # numpy arrays (vector) and numpy scalars
        return json_cell(value.tolist())
    if hasattr(value, "to_list") and not hasattr(value, "indices"):  # halfvec; sparsevec stays text
        return json_cell(value.to_list())
    return str(value)


def _range_text(r: Range[Any]) -> str:
    if r.isempty:
        return "empty"
    lower = "" if r.lower is None else str(json_cell(r.lower))
    upper = "" if r.upper is None else str(json_cell(r.upper))
    return f"{r.bounds[0]}{lower},{upper}{r.bounds[1]}"


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float | Decimal):
        return not value.is_finite() if isinstance(value, Decimal) else not math.isfinite(value)
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def _first_keyword(statement: str) -> str:
    body = _COMMENTS.sub(" ", statement).strip().lstrip("(").strip()
    match = re.match(r"[A-Za-z]+", body)
    return match.group(0).upper() if match else ""


def check_reader_is_safe(conn: psycopg.Connection) -> None:
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s AND NOT rolsuper AND NOT rolbypassrls),
                  has_function_privilege(%s, 'pg_catalog.set_config(text, text, boolean)', 'EXECUTE')
                  OR has_function_privilege(%s, 'pg_catalog.pg_advisory_lock(bigint)', 'EXECUTE')
                  OR has_function_privilege(%s, 'pg_catalog.pg_lock_status()', 'EXECUTE'),
                  pg_has_role(current_user, %s, 'USAGE') OR pg_has_role(current_user, %s, 'SET')""",
        (READER_ROLE, READER_ROLE, READER_ROLE, READER_ROLE, READER_ROLE, READER_ROLE),
    ).fetchone()
    if not row or not row[0] or row[1] or not row[2]:
        raise QueryError(
            "the SQL mode is unavailable: this database does not let minutebook confine user SQL "
            "(role minutebook_reader missing, or set_config, advisory locks and pg_locks not restricted); run "
            "migrations as a role that can create roles and change pg_catalog privileges"
        )


def run_sql(pool: ConnectionPool, statement: str, *, tenant: str, limits: SqlLimits | None = None) -> SqlResult:
    limits = limits or SqlLimits()
    text = statement.strip().rstrip(";").strip()
    if not text:
        raise QueryError("SQL mode needs a statement: SQL SELECT ...")
    if _first_keyword(text) not in ("SELECT", "WITH"):
        raise QueryError("SQL mode runs only SELECT (or WITH ... SELECT) statements")
    deadline = clock.monotonic() + limits.timeout_ms / 1000
    with pool.connection() as conn:
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                check_reader_is_safe(conn)
                set_tenant(conn, tenant)
                conn.execute(f"SET LOCAL ROLE {READER_ROLE}")
                # a server-side cursor: the result stays in the database until fetched, so a huge
                # result costs this process a batch of rows, never the whole of it
                with conn.cursor(name="minutebook_user_sql") as cur:
                    _limit_time(conn, deadline, limits)
                    cur.execute(text)  # DECLARE: one statement only
                    columns = [d.name for d in cur.description or []]
                    return _fetch_bounded(conn, cur, columns, deadline, limits)
        except psycopg.errors.QueryCanceled as exc:
            raise QueryError(f"the query ran past the {limits.timeout_ms} ms limit and was stopped") from exc
        except psycopg.Error as exc:
            reason = (exc.diag.message_primary or str(exc)).strip()
            raise QueryError(f"the database refused the query: {reason}") from exc


def _limit_time(conn: psycopg.Connection, deadline: float, limits: SqlLimits) -> None:
    """The time limit is for the whole request: each statement gets what is left of it."""
    left = int((deadline - clock.monotonic()) * 1000)
    if left <= 0:
        raise QueryError(f"the query ran past the {limits.timeout_ms} ms limit and was stopped")
    conn.execute(f"SET LOCAL statement_timeout = {left}")


def _fetch_bounded(
    conn: psycopg.Connection, cur: psycopg.ServerCursor[Any], columns: list[str], deadline: float, limits: SqlLimits
) -> SqlResult:
    rows: list[list[Any]] = []
    size = 2 + sum(len(c) + 4 for c in columns)
    non_finite = False
    while True:
        _limit_time(conn, deadline, limits)
        batch = cur.fetchmany(_BATCH)
        if not batch:
            break
        for raw in batch:
            if len(rows) == limits.max_rows:
                return _result(columns, rows, "rows", non_finite)
            row = [json_cell(v) for v in raw]
            size += len(json.dumps(row, ensure_ascii=False)) + 1
            if size > limits.max_bytes:
                return _result(columns, rows, "bytes", non_finite)
            non_finite = non_finite or _has_non_finite(list(raw))
            rows.append(row)
    return _result(columns, rows, None, non_finite)


def _result(columns: list[str], rows: list[list[Any]], cut: str | None, non_finite: bool) -> SqlResult:
    notes = ["NaN and infinite numbers are written as the strings NaN, Infinity and -Infinity"] if non_finite else []
    return SqlResult(columns, rows, cut is not None, cut, notes)
