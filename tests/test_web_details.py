"""The web pages' details a new user tripped on (issue 23, item 18), over HTTP: nobody called
"All" owns work, kinds have their own plurals, the "Only undated" box keeps its label on one
line, and money is written one way, with words when there is none yet."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import Q4_NOTE
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from minutebook.api.app import create_app
from minutebook.api.keys import create_key
from minutebook.api.runtime import Runtime
from minutebook.api.web_pages import KIND_PLURALS
from minutebook.cache.report import usd
from minutebook.core.embedder import Embedder
from minutebook.core.settings import Settings
from minutebook.ingest.extract import ITEM_KINDS
from minutebook.ingest.pipeline import IngestOptions, ingest_paths

Site = tuple[TestClient, str]


@pytest.fixture
def make_site(pg_url: str, pool: ConnectionPool, embedder: Embedder, tmp_path: Path) -> Callable[..., Site]:
    """A signed-in browser on an app whose (new) tenant holds the given notes: (client, tenant)."""

    def make(*notes: Path) -> Site:
        tenant = f"det{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_url) as conn:
            _, key = create_key(conn, tenant, "details test")
        if notes:
            ingest_paths(pool, embedder, [str(n) for n in notes], options=IngestOptions(tenant=tenant))
        settings = Settings(home=tmp_path, rate_per_second=1000.0, rate_burst=1000)
        client = TestClient(
            create_app(Runtime(settings, pg_url, pool, embedder)),
            raise_server_exceptions=False,
            base_url="http://127.0.0.1",
        )
        form = client.get("/sign-in").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf, "the sign-in page has no CSRF field"
        signed = client.post("/sign-in", data={"key": key, "csrf": csrf[1], "next": "/"}, follow_redirects=False)
        assert signed.status_code == 303, signed.text
        return client, tenant

    return make


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


# -- "All" is not an owner ---------------------------------------------------------------------


def test_the_owners_board_has_no_column_for_everyone(make_site: Callable[..., Site]) -> None:
    client, _ = make_site(Q4_NOTE)  # "[ ] All: Code freeze Dec 20 - Jan 5 (emergency fixes only)"
    page = client.get("/owners")
    assert page.status_code == 200
    columns = {
        text_of(name).strip(): body
        for name, body in re.findall(r'<h3 id="col-\d+">(.*?)<span.*?</h3>(.*?)</section>', page.text, re.S)
    }
    assert not {"All", "Everyone", "Team"} & set(columns), list(columns)
    assert "Code freeze" in text_of(columns["unassigned"])
    assert "Mike Rodriguez" in columns and "Sarah Chen" in columns  # people still have their columns

    answer = client.get("/owners", params={"topic": "code freeze emergency fixes"}).text
    said = text_of(re.search(r'<section class="owner".*?</section>', answer, re.S)[0])  # type: ignore[index]
    assert "Code freeze" in said and "No owner is written" in said
    assert "unassigned owns" not in said and "All owns" not in said


# -- the search page's kinds -------------------------------------------------------------------


def test_the_search_page_names_each_kind_in_plain_english(make_site: Callable[..., Site]) -> None:
    client, _ = make_site()
    page = client.get("/search").text
    options = dict(re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', page))
    assert options["priority"] == "priorities" and options["action"] == "action items"
    assert "prioritys" not in page and "actions" not in options.values()
    assert set(ITEM_KINDS) <= set(KIND_PLURALS)  # a new kind needs its label here


# -- "Only undated" on one line ----------------------------------------------------------------


def test_the_only_undated_checkbox_is_not_stretched_over_its_label(make_site: Callable[..., Site]) -> None:
    client, _ = make_site()
    page = client.get("/meetings").text
    assert re.search(r'<div class="field"><label class="check"><input type="checkbox"[^>]*> Only undated', page)
    css = client.get("/static/style.css").text
    # `.field input { width: 100% }` made the box take the whole field and squeezed the label to a
    # letter a line; a checkbox keeps its own size, and its label does not wrap
    rules = dict(re.findall(r"([^{}]+)\{([^}]*)\}", re.sub(r"/\*.*?\*/", "", css, flags=re.S)))
    box = next(body for selector, body in rules.items() if "input[type=checkbox]" in selector and ".field" in selector)
    assert "width: auto" in box
    label = next(body for selector, body in rules.items() if ".field .check" in selector)
    assert "nowrap" in label


# -- money ------------------------------------------------------------------------------------

AMOUNT = re.compile(r"-?\$[\d,]+\.\d+")


def add_spend(pg_url: str, tenant: str, *costs: tuple[Decimal, int]) -> None:
    now = datetime.now().astimezone()
    with psycopg.connect(pg_url) as conn:  # as the owner: the ledger as the product writes it
        for cost, days_ago in costs:
            when = now - timedelta(days=days_ago)
            conn.execute(
                """INSERT INTO llm_calls (tenant_id, purpose, model, prompt_tokens, completion_tokens, cost_usd,
                                          latency_ms, outcome, created_at)
                   VALUES (%s, 'answer', 'gpt-4o-mini', 1200, 80, %s, 900, 'ok', %s)""",
                (tenant, cost, when),
            )
            conn.execute(
                """INSERT INTO questions (tenant_id, question, question_norm, outcome, model, cost_usd, latency_ms,
                                          created_at) VALUES (%s, 'q', 'q', 'llm', 'gpt-4o-mini', %s, 900, %s)""",
                (tenant, cost, when),
            )


def test_costs_write_every_amount_one_way(make_site: Callable[..., Site], pg_url: str) -> None:
    client, tenant = make_site()
    add_spend(pg_url, tenant, (Decimal("0.00004213"), 3), (Decimal("0.0123"), 2), (Decimal("12.3456"), 1))
    page = client.get("/costs", params={"since": "30d", "budget": "8000"}).text
    amounts = AMOUNT.findall(text_of(page))
    assert amounts
    # one rule: cents from $1 up, 4 decimals below, 2 significant digits at least for tiny amounts
    assert [a for a in amounts if usd(Decimal(a.replace("$", "").replace(",", ""))) != a] == []
    for expected in ("$0.000042", "$0.0123", "$12.35", "$12.36", "$8,000.00"):
        assert expected in amounts, expected
    assert "$0.000000" not in page and "$0.0000420" not in page
    assert AMOUNT.findall(client.get("/cache").text) == [usd(0)]  # nothing saved yet: the same format


def test_costs_say_there_is_no_spend_yet_instead_of_an_empty_chart(make_site: Callable[..., Site], pg_url: str) -> None:
    client, tenant = make_site()
    empty = client.get("/costs").text
    assert "No LLM spend in this period yet" in empty
    assert '<svg class="chart"' not in empty
    add_spend(pg_url, tenant, (Decimal("0.0021"), 1))
    spent = client.get("/costs").text
    assert "No LLM spend in this period yet" not in spent
    assert '<svg class="chart"' in spent and "$0.0021" in spent
