"""`minutebook serve` processes on one database, for the tests of limits shared by API nodes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

START_WAIT = 180.0  # a cold process loads the model; a busy 2-core machine is slow at it


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    url: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_nodes(env: dict[str, str], count: int = 2) -> Iterator[list[Node]]:
    """`count` serve processes with `env`, each answering /healthz; stopped (or reaped) after."""
    nodes = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "minutebook.api", "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        nodes.append(Node(process, f"http://127.0.0.1:{port}"))
    try:
        deadline = time.monotonic() + START_WAIT
        for node in nodes:
            while True:
                if node.process.poll() is not None:
                    said = node.process.stderr.read() if node.process.stderr else b""
                    raise AssertionError(f"a serve process exited: {said.decode()[-2000:]}")
                try:
                    if httpx.get(f"{node.url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "a serve process did not start"
                time.sleep(0.2)
        yield nodes
    finally:
        for node in nodes:
            node.process.terminate()
        for node in nodes:
            node.process.wait(timeout=30)
