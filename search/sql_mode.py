"""User-supplied SQL, run so that the database itself keeps it harmless.

One statement (a prepared statement cannot hold two), SELECT or WITH only, in a READ ONLY
transaction with a statement timeout, as the `minutebook_reader` role: row-level security
confines it to the caller's tenant and the role cannot call set_config to change tenant or
role. Anything else is refused with the database's reason, and nothing is changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from minutebook.core.errors import QueryError

READER_ROLE = "minutebook_reader"
_COMMENTS = re.compile(r"(--[^\n]*\n?|/\*.*?\*/)", re.S)


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def _first_keyword(statement: str) -> str:
    body = _COMMENTS.sub(" ", statement).strip().lstrip("(").strip()
    match = re.match(r"[A-Za-z]+", body)
    return match.group(0).upper() if match else ""


def check_reader_is_safe(conn: psycopg.Connection) -> None:
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s AND NOT rolsuper AND NOT rolbypassrls),
                  has_function_privilege(%s, 'pg_catalog.set_config(text, text, boolean)', 'EXECUTE'),
                  pg_has_role(current_user, %s, 'USAGE') OR pg_has_role(current_user, %s, 'SET')""",
        (READER_ROLE, READER_ROLE, READER_ROLE, READER_ROLE),
    ).fetchone()
    if not row or not row[0] or row[1] or not row[2]:
        raise QueryError(
            "the SQL mode is unavailable: this database does not let minutebook confine user SQL "
            "(role minutebook_reader missing, or set_config not restricted); run migrations as a role "
            "that can create roles"
        )


def run_sql(
    pool: ConnectionPool, statement: str, *, tenant: str, timeout_ms: int = 2000, max_rows: int = 1000
) -> SqlResult:
    text = statement.strip().rstrip(";").strip()
    if not text:
        raise QueryError("SQL mode needs a statement: SQL SELECT ...")
    if _first_keyword(text) not in ("SELECT", "WITH"):
        raise QueryError("SQL mode runs only SELECT (or WITH ... SELECT) statements")
    with pool.connection() as conn:
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                check_reader_is_safe(conn)
                conn.execute(
                    "SELECT set_config('minutebook.tenant', %s, true), set_config('statement_timeout', %s, true)",
                    (tenant, str(int(timeout_ms))),
                )
                conn.execute(f"SET LOCAL ROLE {READER_ROLE}")
                with conn.cursor() as cur:
                    cur.execute(text, prepare=True)  # type: ignore[arg-type]  # prepared: one statement only
                    columns = [d.name for d in cur.description or []]
                    rows = cur.fetchmany(max_rows + 1)
            return SqlResult(columns, [list(r) for r in rows[:max_rows]], len(rows) > max_rows)
        except psycopg.errors.QueryCanceled as exc:
            raise QueryError(f"the query ran past the {timeout_ms} ms limit and was stopped") from exc
        except psycopg.Error as exc:
            reason = (exc.diag.message_primary or str(exc)).strip()
            raise QueryError(f"the database refused the query: {reason}") from exc
