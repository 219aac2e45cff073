"""The web pages in a real browser: Playwright driving Debian's chromium (no browser download is
possible here). `make test` installs chromium where it can; elsewhere this module is skipped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from browser import find_chromium, launch
from conftest import FIXTURES, SAMPLES
from live_server import LiveServer
from llm_server import LLMServer
from psycopg_pool import ConnectionPool

from minutebook.api.app import create_app
from minutebook.api.keys import create_key
from minutebook.api.runtime import Runtime
from minutebook.core.embedder import Embedder
from minutebook.core.settings import Settings
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip("browser tests skipped: no chromium (as root, `make test` installs Debian's)", allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

QUESTION = "When will Okta SSO be ready?"


class Site:
    def __init__(self, url: str, tenant: str, key: str, llm: LLMServer, pg_url: str) -> None:
        self.url, self.tenant, self.key, self.llm, self.pg_url = url, tenant, key, llm, pg_url


@pytest.fixture(scope="module")
def site(
    pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    tenant = f"browser{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url) as conn:
        _, key = create_key(conn, tenant, "browser test")
    hostile = tmp_path_factory.mktemp("hostile") / "2025-11-03-hostile.md"
    hostile.write_text((FIXTURES / "hostile-note.md").read_text())
    notes = [str(p) for p in sorted(SAMPLES.iterdir())] + [str(hostile)]
    ingest_paths(pool, embedder, notes, options=IngestOptions(tenant=tenant))
    with LLMServer() as llm:
        settings = Settings(
            home=tmp_path_factory.mktemp("home"),
            openai_base_url=llm.base_url,
            openai_api_key="test",
            llm_timeout=30.0,
            llm_max_retries=0,
            rate_per_second=1000.0,
            rate_burst=1000,
        )
        with LiveServer(create_app(Runtime(settings, pg_url, pool, embedder))) as server:
            yield Site(server.url, tenant, key, llm, pg_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright, CHROMIUM)
        yield chromium
        chromium.close()


def sign_in(page: Page, site: Site, key: str) -> None:
    page.goto(site.url + "/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def signed_in(browser: Browser, site: Site) -> dict[str, Any]:
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    sign_in(page, site, site.key)
    expect(page.get_by_role("heading", name="Ask your meeting notes")).to_be_visible()
    state = context.storage_state()
    context.close()
    return state  # type: ignore[return-value]


@pytest.fixture
def page(browser: Browser, site: Site, signed_in: dict[str, Any]) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(base_url=site.url, storage_state=signed_in)  # type: ignore[arg-type]
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert not errors, f"the page logged errors: {errors}"  # CSP refusals land here too


def cost_figures(page: Page, period: str = "30d") -> dict[str, str]:
    page.goto("/costs")
    page.get_by_label("Period").fill(period)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"since={period}"))
    return {
        el.get_attribute("data-field") or "": el.get_attribute("data-value") or el.inner_text()
        for el in page.locator("#totals [data-field]").all()
    }


def ask(page: Page, question: str) -> None:
    page.goto("/")
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#badge")).to_be_visible(timeout=60_000)


def test_sign_in_is_required_once_a_key_exists_and_a_wrong_key_is_refused(browser: Browser, site: Site) -> None:
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    page.goto("/costs")
    expect(page).to_have_url(site.url + "/sign-in?next=/costs")
    page.get_by_label("API key").fill("mbk_wrong-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That key is unknown or revoked.")
    page.get_by_label("API key").fill(site.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(site.url + "/costs")
    [session] = [c for c in context.cookies() if c["name"] == "mb_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(site.url + "/sign-in")
    page.goto("/meetings")
    expect(page).to_have_url(site.url + "/sign-in?next=/meetings")
    context.close()


def test_ask_streams_cites_the_meeting_lines_and_the_repeat_is_a_cache_hit_the_cost_page_counts(
    page: Page, site: Site
) -> None:
    site.llm.token_delay = 0.05
    saved_before = Decimal(cost_figures(page)["saved_usd"] or 0)
    page.goto("/")
    page.evaluate(
        """() => { window.__seen = []; new MutationObserver(() => {
             const s = document.getElementById('streaming'); if (s) window.__seen.push(s.textContent); })
           .observe(document.getElementById('answer-area'), {subtree: true, childList: true, characterData: true}); }"""
    )
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_role("button", name="Ask").click()
    badge = page.locator("#badge")
    expect(badge).to_contain_text("Answered by the LLM", timeout=60_000)
    partial = {t for t in page.evaluate("window.__seen") if t}
    assert len(partial) >= 3, f"the answer arrived whole, not token by token: {partial}"
    site.llm.token_delay = 0.0

    cite = page.locator("#answer-text a.cite").first
    href = cite.get_attribute("href") or ""
    first_line = href.rsplit("#L", 1)[1]
    cite.click()
    expect(page).to_have_url(site.url + href)
    cited = page.locator(f"#L{first_line}")
    expect(cited).to_have_class("line cited")
    expect(cited).to_be_in_viewport()

    ask(page, QUESTION)
    expect(page.locator("#badge")).to_contain_text("From the cache: exact hit")
    saved = Decimal(page.locator("#badge [data-field=saved_usd]").get_attribute("data-value") or "")
    assert saved > 0
    after = Decimal(cost_figures(page)["saved_usd"])
    assert after == saved_before + saved


def test_search_with_a_person_and_a_date_range(page: Page) -> None:
    page.goto("/search")
    page.get_by_label("Words or a question").fill("SSO integration")
    page.get_by_label("Person").fill("Sarah")
    page.get_by_label("From").fill("2025-10-20")
    page.get_by_label("To").fill("2025-10-26")
    page.get_by_role("button", name="Search").click()
    hits = page.locator(".hit")
    expect(hits.first).to_be_visible()
    for meta in page.locator(".hit .meta").all_inner_texts():
        day = meta.split(" ")[0]
        assert "2025-10-20" <= day[:10] <= "2025-10-26", meta
    assert page.locator(".hit mark").count() > 0  # matched words highlighted
    page.get_by_label("Words or a question").fill("okta decisions last week")
    page.get_by_label("From").fill("")
    page.get_by_label("To").fill("")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#interpretation")).to_contain_text('"last week" interpreted as')


def test_who_owns_and_the_items_board(page: Page) -> None:
    page.goto("/owners")
    page.get_by_label("A piece of work").fill("Okta SSO")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#owner-answer")).to_contain_text("Sarah Chen")
    expect(page.locator("#owner-answer .evidence")).to_contain_text("Okta")
    page.get_by_label("Group by").select_option("status")
    page.get_by_label("Owner").fill("Mike")
    page.get_by_role("button", name="Show").click()
    board = page.locator("#board")
    expect(board.get_by_role("heading", name="open")).to_be_visible()
    for card in board.locator(".card .meta").all_inner_texts():
        assert "Mike" in card
    assert board.locator(".card.is-overdue .overdue").count() > 0  # past due and open: marked


def test_upload_a_good_and_a_bad_file(page: Page, tmp_path: Path) -> None:
    good = tmp_path / "2025-11-10-retro.md"
    good.write_text(
        "# Retro - Nov 10, 2025\nAttendees: Ana, Ben\n\n## Action Items\n- [ ] Ana to fix the flaky deploy by Nov 14\n"
        "- [ ] Review the deploy checklist with Ben\n"
    )
    bad = tmp_path / "scan.md"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    page.goto("/upload")
    page.get_by_label("Drop meeting notes here, or choose them").set_input_files([good, bad])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#counts")).to_have_text("1 new · 0 updated · 0 unchanged · 1 failed")
    expect(page.locator("#outcomes .outcome-new")).to_contain_text(good.name)
    expect(page.locator("#outcomes .outcome-failed")).to_contain_text("binary")
    # what was read: the date and where from, attendees, items; the action with no owner is shown open
    expect(page.locator("#outcomes .outcome-new .understood")).to_contain_text(
        "2025-11-10 (from title) · 2 attendees · 2 items: 1 owned, 1 with no owner"
    )
    read = page.locator(".items-read")
    expect(read).to_contain_text("owner unclear (names: Ben)")
    expect(read).to_contain_text("fix the flaky deploy")
    found = Axe().run(page).response["violations"]
    assert not [(v["id"], v["help"]) for v in found if v["impact"] in ("serious", "critical")]


def test_markup_in_notes_is_shown_never_run(page: Page) -> None:
    page.goto("/search?q=pwned+payload")
    expect(page.locator(".hit").first).to_contain_text("<script>window.__pwned = 1</script>")
    page.locator(".hit-head a").first.click()
    expect(page.locator("#note")).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    expect(page.locator("#note")).to_contain_text("[open the pwned payload](javascript:window.__pwned=3)")
    page.goto("/owners?topic=clean+up+the+pwned+payload")
    expect(page.locator("#owner-answer")).to_contain_text("Mallory")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("a[href^='javascript']").count() == 0


def test_costs_page_shows_the_numbers_cost_report_prints(page: Page, site: Site) -> None:
    ask(page, "Who owns the database migration?")
    shown = cost_figures(page, "14d")  # a period typed on the page
    env = {**os.environ, "DATABASE_URL": site.pg_url, "MINUTEBOOK_TENANT": site.tenant}
    printed = subprocess.run(
        [sys.executable, "-m", "minutebook.api", "cost-report", "--since", "14d", "--format", "json"],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    report = json.loads(printed.stdout)
    totals = report["totals"]
    assert int(shown["questions"]) == totals["questions"] >= 1
    for field in ("spend_usd", "saved_usd", "net_saved_usd"):
        assert Decimal(shown[field]) == Decimal(str(totals[field])), field
    assert float(shown["hit_rate"]) == totals["hit_rate"]
    assert int(shown["llm_calls"]) == totals["llm_calls"]
    assert Decimal(shown["projected_month_usd"]).quantize(Decimal("1e-6")) == Decimal(
        str(report["projected_month_usd"])
    ).quantize(Decimal("1e-6"))


def test_clearing_the_cache_asks_first(page: Page) -> None:
    ask(page, "What is the LLM API budget?")
    page.goto("/cache")
    entries = int(page.locator("[data-field=entries]").inner_text())
    assert entries >= 1
    page.get_by_role("link", name="Clear the cache…").click()
    expect(page.get_by_role("heading", name="Clear the cache?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    assert int(page.locator("[data-field=entries]").inner_text()) == entries
    page.get_by_role("link", name="Clear the cache…").click()
    page.get_by_role("button", name=f"Yes, clear {entries} answer").click()
    expect(page.get_by_role("status")).to_contain_text(f"Cleared {entries} cached answer")
    assert page.locator("[data-field=entries]").inner_text() == "0"


def test_a_wrong_answer_is_marked_from_the_page_and_not_served_again(page: Page) -> None:
    question = "What is the monthly cloud infrastructure budget?"
    ask(page, question)
    expect(page.locator("#badge")).to_contain_text("Answered by the LLM")
    page.get_by_role("button", name="This answer is wrong").click()
    expect(page.get_by_role("status")).to_contain_text("is marked wrong")
    ask(page, question)
    expect(page.locator("#badge")).to_contain_text("Answered by the LLM")
    expect(page.locator("#miss-reason")).to_contain_text("Not from the cache")


def test_a_failing_llm_is_said_on_the_page_and_nothing_is_cached(page: Page, site: Site) -> None:
    question = "What is the plan for the holiday code freeze?"
    site.llm.fail_next("500")  # the site makes no retries: one failure is the answer's
    try:
        page.goto("/")
        page.get_by_label("Question").fill(question)
        page.get_by_role("button", name="Ask").click()
        expect(page.locator("#streaming.error")).to_contain_text("LLM unavailable", timeout=60_000)
        page.goto("/cache")
        assert question not in page.locator("#entries").inner_text()
    finally:
        site.llm.reset()  # no failure left queued for the next test


def test_ask_and_open_a_citation_with_the_keyboard_alone(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_label("Question").focus()
    page.keyboard.type("Who owns the read replicas?")
    page.keyboard.press("Enter")
    expect(page.locator("#badge")).to_be_visible(timeout=60_000)
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('a.cite')"):
            break
    else:
        pytest.fail("no citation link is reachable with Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/meetings/\d+\?lines=\d+-\d+#L\d+$"))
    expect(page.locator(".line.cited").first).to_be_in_viewport()


WIDEST = """() => { const w = document.documentElement.clientWidth;
  return [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > w + 1)
    .slice(-3).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 60)); }"""
PAGES = ["/", "/search?q=okta+rollout", "/owners?topic=okta", "/meetings", "/costs", "/cache", "/upload"]


@pytest.mark.parametrize("width", [1100, 375])
def test_every_page_passes_axe_and_fits_the_screen(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    axe = Axe()
    for path in [*PAGES, "/meetings/" + first_meeting(page)]:
        page.goto(path)
        found = axe.run(page).response["violations"]
        serious = [(v["id"], v["help"]) for v in found if v["impact"] in ("serious", "critical")]
        assert not serious, f"{path}: {serious}"
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at {width}px: {page.evaluate(WIDEST)}"


def first_meeting(page: Page) -> str:
    page.goto("/meetings")
    href = page.locator("#meetings tbody a").first.get_attribute("href") or ""
    return href.rsplit("/", 1)[1]


def test_asking_after_the_session_ended_leads_to_sign_in(page: Page, site: Site) -> None:
    page.goto("/")
    page.context.clear_cookies()  # signed out elsewhere, or the session expired
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_role("button", name="Ask").click()
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_notes_dropped_on_the_upload_page_are_ingested(page: Page) -> None:
    page.goto("/upload")
    dropped = page.evaluate_handle(
        """() => { const dt = new DataTransfer();
             dt.items.add(new File(['# Dropped sync - Nov 12, 2025\\nAttendees: Ana\\n\\n- Decided: ship it\\n'],
                                   '2025-11-12-dropped.md', {type: 'text/markdown'}));
             return dt; }"""
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    expect(page.locator("#drop")).to_contain_text("2025-11-12-dropped.md")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#outcomes .outcome-new")).to_contain_text("2025-11-12-dropped.md")
