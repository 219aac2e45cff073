"""A lock file between processes whose wait is bounded and whose holder can be named.

A blocking `flock` waits forever behind a process that was stopped (Ctrl-Z, SIGSTOP, a debugger)
or hangs, silently. Here a waiter polls for the lock until its deadline, then fails with a message
naming the lock file and the process that holds it: its pid and command, which the holder writes
into the file once it has the lock, or, for a holder that wrote nothing (an older version, another
program), its pid from /proc/locks; and whether it is stopped. Used for the embedded server's start
(core/embedded.py) and the embedding model's export (core/onnx_embedder.py).
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
COMMAND_KEEP = 100  # characters kept of a command's start and of its end: the program and what tells runs apart
# How long a process waits for another one's export of the embedding model before failing with the
# holder's name. An int8 export took 16 s on 2 cores under a load average of 9 (measured for issue
# 23), so a holder past two minutes is stopped or stuck rather than working (SECURITY.md: lock
# waits are bounded).
EXPORT_LOCK_TIMEOUT = 120.0


def _short(command: str) -> str:
    """One printable line, its start and end kept."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in command).split())
    return flat if len(flat) <= 2 * COMMAND_KEEP else f"{flat[:COMMAND_KEEP]} … {flat[-COMMAND_KEEP:]}"


def holder_line() -> str:
    """What this process writes into a lock it holds: "<pid> <command>"."""
    command = " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])
    return f"{os.getpid()} {_short(command)}".strip()


def _flock_pid(path: Path) -> str | None:
    """The pid holding an flock on `path`, from /proc/locks ("1: FLOCK ADVISORY WRITE 4242 08:01:1234 0 EOF")."""
    with contextlib.suppress(OSError):
        inode = str(path.stat().st_ino)
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == inode:
                return fields[4]
    return None


def _stopped(pid: str) -> bool:
    """Whether process `pid` is stopped (SIGSTOP, Ctrl-Z) or traced: waiting for it is waiting forever."""
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")
    return False


def describe_holder(path: Path) -> str:
    """Who holds `path`: "pid 123 (minutebook serve)" as its holder wrote it, else as /proc names
    it ("…, which did not write its pid"); ", stopped" when it is."""
    try:
        line = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        line = []
    if line:
        pid, _, command = line[0].partition(" ")
        said = f"pid {pid} ({command})" if command else f"pid {pid}"
    elif (found := _flock_pid(path)) is not None:
        pid = found
        try:
            command = _short(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            command = "?"
        said = f"pid {pid} ({command}), which did not write its pid"
    else:
        return "another process (it did not write its pid)"
    return f"{said}, stopped" if pid.isdigit() and _stopped(pid) else said


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
