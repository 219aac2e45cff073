"""The question path end to end: evidence, the LLM over real HTTP, the semantic cache, the ledger."""

import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import SAMPLES, TPM_NOTE
from llm_server import LLMServer, knows_the_canaries
from psycopg_pool import ConnectionPool

from minutebook.cache import semantic_cache, trust
from minutebook.cache.prices import PriceTable
from minutebook.cache.report import cost_report, plot, report_csv, report_json
from minutebook.cache.semantic_cache import CacheSettings, Retrieved
from minutebook.cache.shape import question_shape
from minutebook.cache.trust import CANARY_DIFFERENT, CANARY_SAME
from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.core.errors import LLMError
from minutebook.core.llm import LLMClient, Usage
from minutebook.ingest.pipeline import IngestOptions, ingest_paths
from minutebook.search.answer import AskOptions, ask, cache_key

AS_OF = date(2025, 10, 29)


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer() as s:
        yield s


@pytest.fixture
def llm(server: LLMServer) -> LLMClient:
    server.reset()
    return LLMClient(model="gpt-4o-mini", base_url=server.base_url, timeout=1.0, max_retries=3, backoff=0.01)


@pytest.fixture
def notes(pool: ConnectionPool, embedder: Embedder, tmp_path: Path) -> tuple[str, Path]:
    tenant = f"ask{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "notes"
    shutil.copytree(SAMPLES, folder)
    assert not ingest_paths(pool, embedder, [str(folder)], options=IngestOptions(tenant=tenant)).failed
    return tenant, folder


def options(tenant: str, **kw: object) -> AskOptions:
    return AskOptions(tenant=tenant, as_of=kw.pop("as_of", AS_OF), **kw)  # type: ignore[arg-type]


def rows(pool: ConnectionPool, tenant: str, sql: str) -> list[tuple]:
    """Read as the restricted role, so row-level security shows this tenant's rows only."""
    with tenant_transaction(pool, tenant) as conn:
        conn.execute("SET LOCAL ROLE minutebook_reader")
        return conn.execute(sql).fetchall()


PRICES = PriceTable.load()


def test_llm_answer_with_citations_then_exact_and_semantic_hits(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    tokens: list[str] = []
    first = ask(
        pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant), on_token=tokens.append
    )
    assert first.mode == "llm" and "".join(tokens) == first.text
    assert "Okta pushed to Nov 15" in first.text
    (citation,) = first.citations
    assert citation.meeting_title == "Weekly TPM Status Meeting - Week of Oct 21-25, 2025"
    assert citation.section == "Engineering Deep Dive (Oct 23) › SSO Integration Status"
    assert citation.meeting_date == date(2025, 10, 23)
    assert first.cache.stored and first.cost_usd and first.cost_usd > 0
    assert server.request_count == 1

    again = ask(pool, embedder, llm, PRICES, "when will okta SSO be ready", options=options(tenant))
    assert (again.mode, again.cache.tier, again.text) == ("cached", "exact", first.text)
    assert again.citations == first.citations and again.cost_usd == 0 and again.saved_usd == first.cost_usd

    paraphrase = ask(pool, embedder, llm, PRICES, "When is Okta SSO going to be ready?", options=options(tenant))
    assert paraphrase.cache.hit and paraphrase.cache.tier == "semantic"
    assert paraphrase.cache.similarity is not None and paraphrase.cache.similarity >= 0.90
    assert server.request_count == 1  # neither hit reached the LLM

    hits = rows(pool, tenant, "SELECT tier, tokens_saved, cost_saved_usd FROM cache_hits ORDER BY id")
    assert [h[0] for h in hits] == ["exact", "semantic"]
    assert all(h[1] > 0 and h[2] == first.cost_usd for h in hits)


def test_a_different_subject_never_shares_an_answer(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    ask(pool, embedder, llm, PRICES, "Who owns the Okta SSO integration?", options=options(tenant))
    other = ask(pool, embedder, llm, PRICES, "Who owns the Google SSO integration?", options=options(tenant))
    assert not other.cache.hit and server.request_count == 2


def test_reingesting_a_changed_note_makes_its_answers_unservable(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, folder = notes
    before = ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    assert before.cache.stored
    note = folder / TPM_NOTE.name
    note.write_text(note.read_text().replace("Okta pushed to Nov 15", "Okta pushed to Dec 12"))
    ingest_paths(pool, embedder, [str(note)], options=IngestOptions(tenant=tenant))
    assert rows(pool, tenant, "SELECT count(*) FROM cache_entries") == [(0,)]  # ingest dropped it
    after = ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    assert not after.cache.hit and "Dec 12" in after.text and server.request_count == 2


def test_cached_evidence_must_be_what_the_new_question_retrieves(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    first = ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    from minutebook.cache.semantic_cache import CachedAnswer, Miss

    q = "When will Okta SSO be ready?"
    key = cache_key(tenant, "gpt-4o-mini", q, None, embedder.encode_one(q))
    cited = [c.chunk_id for c in first.citations if c.chunk_id]
    shape = question_shape(q)
    with tenant_transaction(pool, tenant) as conn:
        same = Retrieved(cited, {})
        assert isinstance(semantic_cache.lookup(conn, key, shape, same, CacheSettings()), CachedAnswer)
        elsewhere = semantic_cache.lookup(conn, key, shape, Retrieved([-1], {}), CacheSettings())
        strict = CacheSettings(question_floor=1.01)  # even the same question must find its evidence on top
        below = semantic_cache.lookup(conn, key, shape, Retrieved([-2, -3, -4, *cited], {}), strict)
    assert isinstance(elsewhere, Miss) and elsewhere.reason == "its evidence is not what this question retrieves"
    assert isinstance(below, Miss) and below.reason == "this question's best evidence is not what it cites"


def test_a_time_window_read_on_another_week_is_another_question(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    q = "What did we decide last week?"
    first = ask(pool, embedder, llm, PRICES, q, options=options(tenant, as_of=date(2025, 10, 29)))
    assert first.interpretation == '"last week" interpreted as 2025-10-20 .. 2025-10-26'
    same_week = ask(pool, embedder, llm, PRICES, q, options=options(tenant, as_of=date(2025, 10, 30)))
    assert same_week.cache.hit
    later = ask(pool, embedder, llm, PRICES, q, options=options(tenant, as_of=date(2025, 11, 20)))
    assert not later.cache.hit


def test_expired_and_evicted_entries_are_not_served(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    small = CacheSettings(max_entries=2)
    for q in ("When will Okta SSO be ready?", "Who owns the read replicas?", "What is the AWS bill doing?"):
        ask(pool, embedder, llm, PRICES, q, options=options(tenant, cache=small))
    kept = [r[0] for r in rows(pool, tenant, "SELECT question FROM cache_entries ORDER BY id")]
    assert kept == ["Who owns the read replicas?", "What is the AWS bill doing?"]  # LRU beyond the cap
    with tenant_transaction(pool, tenant) as conn:
        conn.execute(
            "UPDATE cache_entries SET expires_at = now() - interval '1 second' WHERE tenant_id = %s", (tenant,)
        )
    stale = ask(pool, embedder, llm, PRICES, "Who owns the read replicas?", options=options(tenant))
    assert not stale.cache.hit and stale.cache.stored


def test_a_rejected_answer_is_never_served_again_nor_one_like_it(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    first = ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    hit = ask(pool, embedder, llm, PRICES, "When is Okta SSO going to be ready?", options=options(tenant))
    assert hit.cache.hit and hit.cache.entry_id == first.cache.entry_id and first.cache.entry_id is not None
    with tenant_transaction(pool, tenant) as conn:
        done = semantic_cache.reject(conn, tenant, first.cache.entry_id, reason="wrong date")
        assert done is not None and done.intent == "when" and semantic_cache.reject(conn, tenant, -1) is None
    for q in ("When will Okta SSO be ready?", "When is Okta SSO going to be ready?"):
        again = ask(pool, embedder, llm, PRICES, q, options=options(tenant))
        assert again.mode == "llm" and not again.cache.stored  # same passages, same kind of question: not kept
    assert server.request_count == 3
    other = ask(pool, embedder, llm, PRICES, "Who owns the read replicas?", options=options(tenant))
    assert other.cache.stored  # other answers are still cached
    with tenant_transaction(pool, tenant) as conn:
        stats = semantic_cache.stats(conn, tenant)
    assert (stats["rejected"], stats["entries"]) == (1, 1)
    assert rows(pool, tenant, "SELECT reason, hit_count FROM cache_rejections") == [("wrong date", 1)]


def test_a_grey_zone_paraphrase_is_served_only_when_the_verifier_agrees(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    server.verdict = knows_the_canaries(otherwise="yes")
    first = ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    assert first.cache.stored and first.cost_usd
    served = ask(pool, embedder, llm, PRICES, "okta sso eta", options=options(tenant))  # 0.74 similar
    assert served.cache.hit and served.cache.verified and served.cache.entry_id == first.cache.entry_id
    server.verdict = knows_the_canaries(otherwise="no")
    refused = ask(pool, embedder, llm, PRICES, "okta sso ship date", options=options(tenant))  # 0.79
    assert refused.mode == "llm" and "the verifier said it asks for something else" in (refused.cache.miss_reason or "")
    calls = rows(pool, tenant, "SELECT purpose, cost_usd FROM llm_calls ORDER BY id")
    canaries = CANARY_DIFFERENT + CANARY_SAME  # asked once, before the first verification; no tenant pairs yet
    assert [c[0] for c in calls] == ["answer", *["verify-canary"] * canaries, "verify", "verify", "answer"]
    assert served.saved_usd == first.cost_usd - calls[1 + canaries][1]  # net of its verification
    unverified = options(tenant, cache=CacheSettings(verify=False))
    off = ask(pool, embedder, llm, PRICES, "okta sso: eta?", options=unverified)
    assert not off.cache.verified and len(rows(pool, tenant, "SELECT 1 FROM llm_calls")) == len(calls) + 1
    with tenant_transaction(pool, tenant) as conn:
        totals = cost_report(conn, tenant=tenant).totals
    assert (totals["verify_calls"], totals["canary_calls"]) == (2, canaries)
    assert totals["net_saved_usd"] == totals["saved_usd"] - totals["verify_usd"] - totals["canary_usd"]


def test_a_verifier_that_says_yes_to_everything_never_serves_a_near_match(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    server.verdict = "yes"  # a small local model, a bad proxy, or a note that talks it into agreeing
    ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    grey = ask(pool, embedder, llm, PRICES, "okta sso eta", options=options(tenant))
    assert grey.mode == "llm" and not grey.cache.hit
    assert "grey zone is off" in (grey.cache.miss_reason or "") and "ask for the same information" in (
        grey.cache.miss_reason or ""
    )
    again = ask(pool, embedder, llm, PRICES, "okta sso ship date", options=options(tenant))
    assert not again.cache.hit  # its standing is kept: not asked the canaries again, nor the question
    purposes = [r[0] for r in rows(pool, tenant, "SELECT purpose FROM llm_calls ORDER BY id")]
    assert "verify" not in purposes and 1 <= purposes.count("verify-canary") <= CANARY_DIFFERENT + CANARY_SAME
    with tenant_transaction(pool, tenant) as conn:
        (standing,) = semantic_cache.stats(conn, tenant)["verifiers"]
    assert standing["model"] == llm.model and not standing["trusted"] and "canary" in standing["reason"]


def test_a_verifier_that_fails_is_not_trusted_and_is_checked_again_a_day_later(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    server.verdict = "maybe"
    ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    assert not ask(pool, embedder, llm, PRICES, "okta sso eta", options=options(tenant)).cache.hit
    with tenant_transaction(pool, tenant) as conn:
        (standing,) = semantic_cache.stats(conn, tenant)["verifiers"]
        assert not standing["trusted"] and "no clear yes or no" in standing["reason"]
        conn.execute("UPDATE verifier_trust SET checked_at = now() - interval '25 hours'")
    server.verdict = knows_the_canaries(otherwise="yes")
    assert ask(pool, embedder, llm, PRICES, "okta sso ship date", options=options(tenant)).cache.verified


def test_a_user_rejecting_an_approved_hit_turns_its_verifier_off_until_reset(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    server.verdict = knows_the_canaries(otherwise="yes")
    ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    served = ask(pool, embedder, llm, PRICES, "okta sso eta", options=options(tenant))
    assert served.cache.verified and served.cache.entry_id is not None
    with tenant_transaction(pool, tenant) as conn:
        done = semantic_cache.reject(conn, tenant, served.cache.entry_id, reason="wrong")
        assert done is not None and done.distrusted == [llm.model]
        conn.execute("UPDATE verifier_trust SET checked_at = now() - interval '25 hours'")
        standing = trust.standing(conn, tenant, llm.model)
        assert standing is not None and not standing.trusted
        assert "a user rejected an answer it approved" in standing.reason
        assert not standing.due(trust.now(conn))  # a day later the canaries alone do not bring it back
        assert trust.reset(conn, tenant, llm.model) == 1 and trust.standing(conn, tenant, llm.model) is None


def test_concurrent_identical_misses_make_one_llm_call(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    server.delay = 0.4
    answers: list[str] = []
    errors: list[Exception] = []

    def one() -> None:
        try:
            answers.append(
                ask(pool, embedder, llm, PRICES, "Who owns the read replicas?", options=options(tenant)).mode
            )
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert server.request_count == 1
    assert sorted(answers) == ["cached"] * 19 + ["llm"]


def test_failures_are_retried_recorded_and_never_cached(
    pool: ConnectionPool, embedder: Embedder, llm: LLMClient, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    server.fail_next("500", "500", "500", "500")
    with pytest.raises(LLMError, match="after 4 attempt"):
        ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    assert rows(pool, tenant, "SELECT count(*) FROM cache_entries") == [(0,)]
    assert rows(pool, tenant, "SELECT outcome, status_code FROM llm_calls") == [("server_error", 500)] * 4
    assert rows(pool, tenant, "SELECT outcome FROM questions") == [("failed",)]

    server.fail_next("429", "hang")
    server.hang_seconds = 1.5
    recovered = ask(pool, embedder, llm, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    assert recovered.mode == "llm" and recovered.llm_attempts == 3 and recovered.cache.stored
    outcomes = [r[0] for r in rows(pool, tenant, "SELECT outcome FROM llm_calls ORDER BY id")][4:]
    assert outcomes == ["rate_limited", "timeout", "ok"]

    server.fail_next("truncate")
    partial = ask(pool, embedder, llm, PRICES, "Who owns the read replicas?", options=options(tenant))
    assert partial.mode == "llm" and not partial.cache.stored  # cut off by length: never cached


def test_no_llm_gives_an_extractive_answer_and_irrelevant_questions_cost_nothing(
    pool: ConnectionPool, embedder: Embedder, server: LLMServer, notes: tuple[str, Path]
) -> None:
    tenant, _ = notes
    server.reset()
    extractive = ask(pool, embedder, None, PRICES, "When will Okta SSO be ready?", options=options(tenant))
    assert extractive.mode == "extractive" and "Okta" in extractive.text and extractive.citations
    assert "[" in extractive.text and not extractive.cache.stored
    assert rows(pool, tenant, "SELECT count(*) FROM cache_entries") == [(0,)]
    llm = LLMClient(model="gpt-4o-mini", base_url=server.base_url, timeout=1.0)
    off_topic = ask(pool, embedder, llm, PRICES, "What is the capital of France?", options=options(tenant))
    # the relevance judge says why, in the user's own words (not stems)
    assert off_topic.mode == "not_in_notes" and "not in the notes" in off_topic.text and "“France”" in off_topic.text
    assert server.request_count == 0


def test_prices_cost_arithmetic() -> None:
    usage = Usage(prompt_tokens=10_000, completion_tokens=2_000, cached_tokens=4_000)
    # gpt-4o-mini: 6,000 fresh x $0.15/M + 4,000 cached x $0.075/M + 2,000 out x $0.60/M
    assert PRICES.cost("gpt-4o-mini", usage) == Decimal("0.0009") + Decimal("0.0003") + Decimal("0.0012")
    assert PRICES.cost("gpt-4o-mini-2024-07-18", usage) == PRICES.cost("gpt-4o-mini", usage)
    assert PRICES.cost("my-local-llama", usage) is None  # unknown, never 0


def test_price_override_file(tmp_path: Path) -> None:
    (tmp_path / "prices.json").write_text('{"my-local-llama": {"input": 0, "output": 0}}')
    table = PriceTable.load(tmp_path / "prices.json")
    assert table.cost("my-local-llama", Usage(100, 100)) == 0
    assert table.cost("gpt-4o", Usage(1_000_000, 0)) == Decimal("2.5")


def test_cost_report_adds_up(
    pool: ConnectionPool,
    embedder: Embedder,
    llm: LLMClient,
    server: LLMServer,
    notes: tuple[str, Path],
    tmp_path: Path,
) -> None:
    tenant, _ = notes
    for q in ["When will Okta SSO be ready?"] * 3 + ["Who owns the read replicas?"] * 2:
        ask(pool, embedder, llm, PRICES, q, options=options(tenant))
    with tenant_transaction(pool, tenant) as conn:
        report = cost_report(conn, tenant=tenant, since=timedelta(days=1), budget=Decimal("8000"))
        spent = conn.execute("SELECT sum(cost_usd) FROM llm_calls WHERE tenant_id = %s", (tenant,)).fetchone()[0]
        saved = conn.execute("SELECT sum(cost_saved_usd) FROM cache_hits WHERE tenant_id = %s", (tenant,)).fetchone()[0]
    t = report.totals
    assert (t["questions"], t["llm_calls"], t["exact_hits"], t["hit_rate"]) == (5, 2, 3, 0.6)
    assert t["spend_usd"] == spent and t["saved_usd"] == saved
    assert t["savings_pct"] == pytest.approx(float(saved / (spent + saved) * 100), abs=0.01)
    assert report.top_questions[0] == {"question": "when will okta sso be ready", "asked": 3, "served_from_cache": 2}
    assert "within budget" in (report.budget_status or "")
    as_json = report_json(report)
    assert as_json["totals"]["questions"] == 5
    lines = report_csv(report).splitlines()
    assert lines[0].startswith("day,questions") and lines[-1].startswith("total,5,2")
    png = plot(report, tmp_path / "cost.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


OPS_NOTE = """# Ops sync
Date: 2025-10-01
Attendees: Dana Whitfield, Omar Haddad

## Backups
- Dana owns the nightly backup job
- Risk: only Dana knows how the nightly backup job restores
- Risk: the nightly backup job has no monitoring
- [ ] Document the nightly backup job restore steps
"""
PLAIN_NOTE = "Standup notes\n\nWe talked about the vendor contract renewal.\nIt is due in March and legal reviews it.\n"
LIST_GLYPH = re.compile(r"^\s*(?:[-*+•◦▪‣○●✓✔☐☑✅❌]|\[[ xX✓]\]|\d{1,3}[.)])\s")


def test_extractive_answers_read_as_plain_lines_cited_in_order(
    pool: ConnectionPool, embedder: Embedder, notes: tuple[str, Path]
) -> None:
    tenant, folder = notes
    (folder / "ops.md").write_text(OPS_NOTE)
    (folder / "standup.txt").write_text(PLAIN_NOTE)
    assert not ingest_paths(pool, embedder, [str(folder)], options=IngestOptions(tenant=tenant)).failed
    answers = {
        q: ask(pool, embedder, None, PRICES, q, options=options(tenant))
        for q in ("When will Okta SSO be ready?", "Who owns the database migration?",
                  "Who owns the nightly backup job?", "When is the vendor contract renewal?")
    }  # fmt: skip
    for q, answer in answers.items():
        assert answer.mode == "extractive"
        lines = answer.text.splitlines()
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
        assert numbers == list(range(1, len(lines) + 1)) == [c.n for c in answer.citations], q  # [1] [2] [3]
        assert not [line for line in lines if LIST_GLYPH.match(line)], q  # no "- ", "[ ]", "○"
        quoted = [re.sub(r" — .*| \[\d+\]$", "", line) for line in lines]
        assert len(set(quoted)) == len(quoted), q  # an item and the line it was read from: said once
        assert all(c.section.strip() for c in answer.citations), q
    assert answers["When will Okta SSO be ready?"].text.count("Complete Okta SSO integration") == 1
    backups = answers["Who owns the nightly backup job?"].text
    assert "only Dana knows how the nightly backup job restores — owner unclear" in backups
    assert "the nightly backup job has no monitoring (open)" in backups and "unassigned" not in backups
    (renewal, *_) = answers["When is the vendor contract renewal?"].citations
    assert renewal.meeting_title == "Standup notes" and renewal.section == "(no heading)"
