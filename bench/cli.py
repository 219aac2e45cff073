"""The CLI as a person runs it: wall time of `minutebook` subprocesses, first call and warm.

A fresh MINUTEBOOK_HOME gets the sample notes (ingest, not timed), then for each command the
first call is made with nothing running (the embedded server stopped) and the rest warm (the
server left running, as the CLI leaves it). No LLM is configured: `ask` answers extractively.
Targets: `--help` p50 <= 0.3 s; warm `search`, `who-owns`, `ask` p50 <= 1.0 s; every first call
<= 6.5 s (the slowest command before this bench existed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELP_MAX, WARM_MAX, FIRST_MAX = 0.3, 1.0, 6.5
COMMANDS = {
    "--help": ["--help"],
    "items": ["items", "--owner", "Mike"],
    "search": ["search", "Okta SSO timeline", "--k", "3"],
    "who-owns": ["who-owns", "read replicas"],
    "ask": ["ask", "When will Okta SSO be ready?"],
}
NEEDS_MODEL = {"search", "who-owns", "ask"}


def run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "minutebook.api", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"minutebook {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="warm calls per command")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="minutebook-cli-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINUTEBOOK_", "DATABASE_URL", "OPENAI_"))}
    env["MINUTEBOOK_HOME"] = str(home)
    try:
        setup = run(["ingest", str(ROOT / "examples" / "notes")], env)
        print(f"setup: ingest of the samples into a fresh home, model export included: {setup:.1f} s")
        rows = []
        for name, cmd in COMMANDS.items():
            run(["db", "stop"], env)
            first = run(cmd, env)
            warm = [run(cmd, env) for _ in range(args.runs)]
            rows.append((name, first, statistics.median(warm), sorted(warm)[int(0.95 * (len(warm) - 1))]))
    finally:
        subprocess.run([sys.executable, "-m", "minutebook.api", "db", "stop"], env=env, capture_output=True)
    ok = True
    print(f"{'command':10} {'first s':>8} {'warm p50 s':>11} {'warm p95 s':>11}  targets")
    for name, first, p50, p95 in rows:
        limit = HELP_MAX if name == "--help" else WARM_MAX if name in NEEDS_MODEL else None
        hit = (limit is None or p50 <= limit) and first <= FIRST_MAX
        ok &= hit
        target = f"p50 <= {limit}, " if limit else ""
        verdict = "" if hit else "  MISSED"
        print(f"{name:10} {first:8.2f} {p50:11.2f} {p95:11.2f}  {target}first <= {FIRST_MAX}{verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
