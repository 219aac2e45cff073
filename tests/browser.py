"""Debian's chromium as the browser tests and bench/web.py start it (no browser is downloaded)."""

from __future__ import annotations

import os
import shutil
from typing import Any

# as the machine's notes advise: no sandbox as root, and no background calls to a closed network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    return os.environ.get("MINUTEBOOK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Any, executable: str) -> Any:
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
