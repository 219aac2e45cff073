"""An MCP round trip as an assistant makes it: the SDK's stdio client starts `minutebook mcp` and
sends initialize → tools/list → tools/call who_owns.

A fresh MINUTEBOOK_HOME gets the sample notes (examples/notes, the same as ../shared/samples) and
an API key, through the CLI as a user would (not timed); the embedded database is left running,
as the CLI leaves it. Then one `minutebook mcp` process serves every run (warm): after one
warm-up round trip, --runs round trips on its connection, each one repeating the handshake
(initialize, then the initialized notification) before tools/list and the call; a stdio
connection is one session, so the client's handshake is sent again by hand.
Also shown, without a target: the first session, from spawning the process to the who_owns
result (Python, the SDK and the embedding model loading, the database reached).
Target (issue 28): warm round trip p50 < 1 s. Prints a table; exits 1 when it is missed.
(Not bench/mcp.py: a module named like the SDK's package shadows it wherever bench/ is on sys.path.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters, stdio_client
from mcp.types import (
    ClientCapabilities,
    Implementation,
    InitializedNotification,
    InitializeRequest,
    InitializeRequestParams,
    InitializeResult,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "examples" / "notes"
TOPIC = "Okta SSO"
WARM_P50_MAX_S = 1.0


def cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "minutebook.api", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"minutebook {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))]


async def measure(env: dict[str, str], runs: int, errlog: Any) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The first session's phases, then each warm round trip's."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "minutebook.api", "mcp"], env=env)
    started = time.perf_counter()
    async with Client(stdio_client(params, errlog=errlog), mode="legacy", cache=None) as client:
        initialized = time.perf_counter()  # the SDK's own handshake, the process's start included
        await client.list_tools()
        listed = time.perf_counter()
        await owner_of(client)
        first = {
            "initialize": initialized - started,
            "tools/list": listed - initialized,
            "who_owns": time.perf_counter() - listed,
        }
        warm = []
        for _ in range(runs + 1):  # the first is the warm-up
            warm.append(await round_trip(client))
    return first, warm[1:]


async def round_trip(client: Client) -> dict[str, float]:
    handshake = InitializeRequest(
        params=InitializeRequestParams(
            protocol_version=client.protocol_version,  # the one the SDK's own handshake agreed on
            capabilities=ClientCapabilities(),
            client_info=Implementation(name="minutebook-bench", version="1"),
        )
    )
    started = time.perf_counter()
    result = await client.session.send_request(handshake, InitializeResult)
    assert result.server_info is not None and result.server_info.name == "minutebook", result
    await client.session.send_notification(InitializedNotification())
    initialized = time.perf_counter()
    tools = await client.list_tools()
    assert "who_owns" in {t.name for t in tools.tools}
    listed = time.perf_counter()
    await owner_of(client)
    return {
        "initialize": initialized - started,
        "tools/list": listed - initialized,
        "who_owns": time.perf_counter() - listed,
    }


async def owner_of(client: Client) -> None:
    result = await client.call_tool("who_owns", {"topic": TOPIC})
    data = result.structured_content or {}
    if result.is_error or not data.get("found"):
        raise SystemExit(f"who_owns {TOPIC!r} failed: {result.content}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="warm round trips (after one warm-up)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="minutebook-mcp-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINUTEBOOK_", "DATABASE_URL", "OPENAI_"))}
    env["MINUTEBOOK_HOME"] = str(home)
    if models := os.environ.get("MINUTEBOOK_MODELS_DIR"):  # an export made before: no need to redo it
        env["MINUTEBOOK_MODELS_DIR"] = models
    try:
        started = time.perf_counter()
        cli(["ingest", str(SAMPLES), "--tenant", "bench"], env)
        env["MINUTEBOOK_API_KEY"] = json.loads(cli(["keys", "create", "--tenant", "bench", "--json"], env))["key"]
        print(f"setup: the samples ingested into a fresh home and a key made: {time.perf_counter() - started:.1f} s")
        log = home / "mcp-stderr.log"
        try:
            with log.open("w") as errlog:
                first, warm = anyio.run(measure, env, args.runs, errlog)
        except BaseException:
            print(f"the server's stderr:\n{log.read_text()[-2000:]}", file=sys.stderr)
            raise
    finally:
        subprocess.run([sys.executable, "-m", "minutebook.api", "db", "stop"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)

    phases = ("initialize", "tools/list", "who_owns")
    totals = [sum(run.values()) for run in warm]
    p50, p95 = statistics.median(totals), percentile(totals, 0.95)
    ok = p50 < WARM_P50_MAX_S
    print(f"\nMCP round trip over stdio (initialize → tools/list → tools/call who_owns {TOPIC!r}), seconds")
    print(f"{'':32} {'p50':>7} {'p95':>7}  target")
    verdict = "" if ok else "  MISSED"
    print(f"{f'warm round trip ({len(warm)} runs)':32} {p50:7.3f} {p95:7.3f}  p50 < {WARM_P50_MAX_S}{verdict}")
    for phase in phases:
        values = [run[phase] for run in warm]
        print(f"{'  ' + phase:32} {statistics.median(values):7.3f} {percentile(values, 0.95):7.3f}")
    print(f"{'first session (spawn → result)':32} {sum(first.values()):7.3f} {'':>7}  (no target)")
    for phase in phases:
        label = "  initialize (process start)" if phase == "initialize" else f"  {phase}"
        print(f"{label:32} {first[phase]:7.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
