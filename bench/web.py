"""Web pages as a browser sees them: page load p50 on the sample notes, in Debian's chromium.

A fresh embedded database gets the sample notes and one API key; the app is served by uvicorn on
loopback with the loopback LLM (tests/llm_server.py); the browser signs in once. Measured in the
page itself (Navigation and Resource Timing, a MutationObserver for the answer):

- search, costs, meetings: first byte (responseStart) and fully rendered (loadEventEnd) of a page load;
- ask (cached): from pressing Ask to the stream's first byte, and to the answer with its badge
  on screen, for a question already answered (an exact cache hit).

Targets (p50): first byte <= 150 ms and fully rendered <= 400 ms for every page; cached ask
fully rendered <= 250 ms. `--screenshots DIR` also saves a picture of every page (README).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import find_chromium, launch  # noqa: E402
from live_server import LiveServer  # noqa: E402
from llm_server import LLMServer  # noqa: E402

from minutebook.api.app import create_app  # noqa: E402
from minutebook.api.keys import create_key  # noqa: E402
from minutebook.api.runtime import Runtime, make_embedder  # noqa: E402
from minutebook.core.database import connect, open_app_pool  # noqa: E402
from minutebook.core.embedded import start_embedded, stop_embedded  # noqa: E402
from minutebook.core.migrations import migrate  # noqa: E402
from minutebook.core.settings import Settings  # noqa: E402
from minutebook.ingest.pipeline import IngestOptions, ingest_paths  # noqa: E402

FIRST_BYTE_MAX, RENDERED_MAX, ASK_CACHED_MAX = 150.0, 400.0, 250.0
TENANT = "bench"
QUESTIONS = [
    "When will Okta SSO be ready?",
    "Who owns the database migration?",
    "What is the LLM API budget?",
    "What did we decide about GraphQL?",
]
PAGES = {
    "search": "/search?q=Okta+SSO+timeline&person=Sarah",
    "costs": "/costs?since=30d",
    "meetings": "/meetings",
}

_NAVIGATION = """() => { const n = performance.getEntriesByType('navigation')[0];
  return [n.responseStart - n.startTime, n.loadEventEnd - n.startTime]; }"""
_WATCH_ASK = """() => { window.__t = {}; const form = document.getElementById('ask-form');
  form.addEventListener('submit', () => { window.__t.start = performance.now(); }, {capture: true});
  new MutationObserver(() => {
      if (!window.__t.done && document.getElementById('badge')) window.__t.done = performance.now(); })
    .observe(document.getElementById('answer-area'), {subtree: true, childList: true}); }"""
_ASK_TIMES = """() => { const r = performance.getEntriesByType('resource').filter(e => e.name.endsWith('/ask')).pop();
  return [r.responseStart - window.__t.start, window.__t.done - window.__t.start]; }"""


def ask_in_page(page: Any, base: str, question: str) -> str:
    """Ask on the ask page; the badge's text once the answer is on screen."""
    page.goto(base + "/")
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Ask").click()
    page.wait_for_selector("#badge")
    return str(page.inner_text("#badge"))


def p50(values: list[float]) -> float:
    return statistics.median(values)


def measure(page: Any, base: str, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    results: dict[str, tuple[list[float], list[float]]] = {}
    for name, path in PAGES.items():
        page.goto(base + path)  # warm: the first load also fetches the stylesheet and script
        first, rendered = [], []
        for _ in range(runs):
            page.goto(base + path, wait_until="load")
            fb, done = page.evaluate(_NAVIGATION)
            first.append(fb)
            rendered.append(done)
        results[name] = (first, rendered)
    first, rendered = [], []
    for _ in range(runs):
        page.goto(base + "/")
        page.evaluate(_WATCH_ASK)
        page.get_by_label("Question").fill(QUESTIONS[0])
        page.get_by_role("button", name="Ask").click()
        page.wait_for_selector("#badge")
        badge = page.inner_text("#badge")
        if "From the cache" not in badge:
            raise SystemExit(f"the repeated question was not a cache hit: {badge}")
        fb, done = page.evaluate(_ASK_TIMES)
        first.append(fb)
        rendered.append(done)
    results["ask (cached)"] = (first, rendered)
    return results


def screenshots(browser: Any, base: str, state: Any, out: Path, work: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1200, "height": 900}, storage_state=state)
    page = context.new_page()
    ask_in_page(page, base, QUESTIONS[0])
    page.screenshot(path=out / "ask.png")
    page.goto(base + "/search?q=SSO+decisions&since=2025-10-01&until=2025-10-31")
    page.screenshot(path=out / "search.png")
    page.goto(base + "/owners?topic=Okta+SSO&group=owner")
    page.screenshot(path=out / "owners.png")
    page.goto(base + "/meetings")
    page.screenshot(path=out / "meetings.png")
    ask_in_page(page, base, QUESTIONS[1])
    page.locator("#answer-text a.cite").first.click()
    page.wait_for_load_state("load")
    page.screenshot(path=out / "meeting.png")
    page.goto(base + "/costs?since=7d")
    page.screenshot(path=out / "costs.png", full_page=True)
    page.goto(base + "/cache")
    page.screenshot(path=out / "cache.png")
    good = work / "2025-11-10-retro.md"
    good.write_text(
        "# Retro - Nov 10, 2025\nAttendees: Ana, Ben\n\n## Action Items\n- [ ] Ana to fix the deploy by Nov 14\n"
    )
    bad = work / "scan.md"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    page.goto(base + "/upload")
    page.set_input_files("#files", [str(good), str(bad)])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_selector("#outcomes")
    page.screenshot(path=out / "upload.png")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=state)
    small = phone.new_page()
    small.goto(base + "/owners?topic=Okta+SSO")
    small.screenshot(path=out / "phone-owners.png")
    signed_out = browser.new_context(viewport={"width": 1200, "height": 600})
    door = signed_out.new_page()
    door.goto(base + "/costs")
    door.screenshot(path=out / "sign-in.png")
    for c in (context, phone, signed_out):
        c.close()


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="loads per page")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of every page here")
    parser.add_argument("--chromium", default=find_chromium(), help="the browser binary")
    args = parser.parse_args()
    if not args.chromium:
        raise SystemExit("no chromium: `apt-get install chromium` (Debian)")
    work = Path(tempfile.mkdtemp(prefix="minutebook-web-"))
    pgdata = work / "pgdata"
    try:
        url = start_embedded(pgdata)
        migrate(url)
        with connect(url) as conn:
            _, key = create_key(conn, TENANT, "bench")
        settings_home = work / "home"
        embedder = make_embedder(Settings())
        with open_app_pool(url, min_size=2, max_size=8) as pool, LLMServer() as llm:
            ingest_paths(pool, embedder, [str(ROOT / "examples" / "notes")], options=IngestOptions(tenant=TENANT))
            settings = Settings(
                home=settings_home, openai_base_url=llm.base_url, openai_api_key="bench", llm_max_retries=0
            )
            app = create_app(Runtime(settings, url, pool, embedder))
            with LiveServer(app) as server, sync_playwright() as playwright:
                browser = launch(playwright, args.chromium)
                context = browser.new_context()
                page = context.new_page()
                page.goto(server.url + "/sign-in")
                page.get_by_label("API key").fill(key)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(server.url + "/")
                for question in QUESTIONS:  # answered once by the LLM: the cost page has figures
                    ask_in_page(page, server.url, question)
                results = measure(page, server.url, args.runs)
                if args.screenshots:
                    screenshots(browser, server.url, context.storage_state(), args.screenshots, work)
                browser.close()
    finally:
        stop_embedded(pgdata)
        shutil.rmtree(work, ignore_errors=True)
    ok = True
    print(f"{'page':14} {'first byte p50 ms':>18} {'rendered p50 ms':>16} {'rendered p95 ms':>16}  target")
    for name, (first, rendered) in results.items():
        limit = ASK_CACHED_MAX if name.startswith("ask") else RENDERED_MAX
        hit = p50(first) <= FIRST_BYTE_MAX and p50(rendered) <= limit
        ok &= hit
        p95 = sorted(rendered)[int(0.95 * (len(rendered) - 1))]
        verdict = "" if hit else "  MISSED"
        print(
            f"{name:14} {p50(first):18.1f} {p50(rendered):16.1f} {p95:16.1f}"
            f"  first byte <= {FIRST_BYTE_MAX:.0f}, rendered <= {limit:.0f}{verdict}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
