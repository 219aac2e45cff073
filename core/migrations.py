"""Ordered `sql/NNN_name.sql` migrations, applied under an advisory lock and pinned by sha256."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from minutebook.core.database import LOCK_WAIT_SECONDS, session_lock
from minutebook.core.errors import DatabaseError, MigrationError

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_LOCK_KEY = 0x6D696E7574  # arbitrary constant shared by every minutebook process
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    state: str  # applied | pending | modified | unknown
    applied_at: str | None = None


def load_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name must look like 001_name.sql: {path.name}")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number in {directory}")
    return found


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def _applied(conn: psycopg.Connection) -> dict[int, tuple[str, str, str]]:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT version, name, sha256, applied_at::text FROM schema_migrations").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def migration_status(conn: psycopg.Connection, directory: Path = SQL_DIR) -> list[MigrationState]:
    applied = _applied(conn)
    states: list[MigrationState] = []
    files = {m.version: m for m in load_migrations(directory)}
    for version in sorted(set(files) | set(applied)):
        if version not in files:
            name, _, at = applied[version]
            states.append(MigrationState(version, name, "unknown", at))
        elif version not in applied:
            states.append(MigrationState(version, files[version].name, "pending"))
        else:
            _, digest, at = applied[version]
            state = "applied" if digest == files[version].sha256 else "modified"
            states.append(MigrationState(version, files[version].name, state, at))
    return states


def _check_consistent(states: list[MigrationState]) -> None:
    for s in states:
        if s.state == "modified":
            raise MigrationError(
                f"migration {s.version:03d}_{s.name}.sql was edited after it was applied; "
                "add a new migration instead of changing an applied one"
            )
        if s.state == "unknown":
            raise MigrationError(
                f"the database has migration {s.version:03d}_{s.name} that this version of minutebook "
                "does not know; upgrade minutebook"
            )


def migrate(url: str, directory: Path = SQL_DIR, *, lock_wait: float = LOCK_WAIT_SECONDS) -> list[Migration]:
    """Apply pending migrations in order, each in its own transaction; return those applied.

    A session advisory lock serialises concurrent callers (CLI and API starting together); a
    caller that cannot have it within `lock_wait` seconds gets a clear error, never a hang.
    """
    applied_now: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            with session_lock(
                conn, _LOCK_KEY, seconds=lock_wait, busy="another migration is running (or holds its lock); retry"
            ):
                conn.execute(_CREATE_TABLE)
                _check_consistent(migration_status(conn, directory))
                done = _applied(conn)
                for migration in load_migrations(directory):
                    if migration.version in done:
                        continue
                    with conn.transaction():
                        conn.execute(migration.sql)  # trusted file, many statements
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.sha256),
                        )
                    applied_now.append(migration)
        except DatabaseError as exc:
            raise MigrationError(str(exc)) from None
        except psycopg.Error as exc:
            raise MigrationError(f"migration failed: {exc}") from exc
    return applied_now


def pending_count(conn: psycopg.Connection, directory: Path = SQL_DIR) -> int:
    return sum(1 for s in migration_status(conn, directory) if s.state != "applied")
