"""A lock file between processes whose wait is bounded and whose holder can be named.

A blocking `flock` waits forever behind a process that was stopped (Ctrl-Z, SIGSTOP, a debugger)
or hangs, silently. Here a waiter polls for the lock until its deadline, then fails with a message
naming the lock file and the process that holds it (its pid and command, which the holder writes
into the file once it has the lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

POLL_FIRST = 0.01  # seconds: a lock held briefly (a check, a reuse) is taken almost at once
POLL_MAX = 0.2  # seconds: a long hold (a cold start, a model export) costs at most five looks a second
COMMAND_CHARS = 200  # enough to name the command; a lock file is no place for a whole argv


def holder_line() -> str:
    """What this process writes into a lock it holds: "<pid> <command>"."""
    command = " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])
    command = "".join(c if c.isprintable() else " " for c in command)[:COMMAND_CHARS]
    return f"{os.getpid()} {command}".strip()


def describe_holder(path: Path) -> str:
    """Who holds `path`, as its holder wrote it: "pid 123 (minutebook serve)"."""
    try:
        line = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        line = []
    if not line:
        return "another process (it did not write its pid)"
    pid, _, command = line[0].partition(" ")
    return f"pid {pid} ({command})" if command else f"pid {pid}"


@contextlib.contextmanager
def held(path: Path, *, timeout: float, purpose: str, error: Callable[[str], Exception]) -> Iterator[None]:
    """Hold the exclusive lock on `path` for the block, waiting at most `timeout` seconds for it;
    then raise `error(message)`, the message naming `purpose`, the lock file and its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not truncated: it names the current holder
    try:
        deadline = time.monotonic() + timeout
        pause = POLL_FIRST
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise error(
                        f"{purpose}: waited {timeout:g} s for the lock {path}, held by {describe_holder(path)}; "
                        "if that process is stopped or hung, end it and try again"
                    ) from None
                time.sleep(pause)
                pause = min(POLL_MAX, pause * 2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (holder_line() + "\n").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # nobody holds it once this process lets go
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
