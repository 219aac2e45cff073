"""`minutebook ask`, `minutebook cache …` and `minutebook cost-report`."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from minutebook.api.cli_support import (
    Col,
    clean,
    console,
    err_console,
    friendly_errors,
    parse_as_of,
    print_json,
    print_table,
    safe,
    settings_from,
)
from minutebook.core.errors import QueryError

if TYPE_CHECKING:
    from minutebook.cache.report import CostReport
    from minutebook.search.answer import Answer


cache_app = typer.Typer(help="The semantic cache: stats, inspect, reject, reset-verifier, clear.", no_args_is_help=True)


def _money(value: Decimal | None) -> str:
    from minutebook.cache.report import usd

    return usd(value)


def _render_answer(answer: Answer, streamed: bool) -> None:
    if not streamed:
        console.print(clean(answer.text), highlight=False, markup=False)
    else:
        console.print()
    if answer.citations:
        console.print("\n[bold]Sources[/bold]")
        for c in answer.citations:
            when = f" ({c.when or c.meeting_date})" if c.when or c.meeting_date else ""
            page = f"p. {c.page}, " if c.page is not None else ""  # a PDF's page, as its reader finds it
            console.print(
                clean(
                    f"  [{c.n}] {c.meeting_title}{when} › {c.section}  "
                    + (f"({c.spoken})" if c.spoken else f"({page}lines {c.line_start}-{c.line_end})")
                ),
                highlight=False,
                markup=False,
            )
    facts = [f"mode: {answer.mode}"]
    if answer.cache.hit:
        facts.append(
            f"from the cache: {answer.cache.tier} hit on {answer.cache.cached_question!r} (similarity "
            f"{answer.cache.similarity}{', verified' if answer.cache.verified else ''}, saved "
            f"{_money(answer.saved_usd)}); wrong? "
            f"minutebook cache reject {answer.cache.entry_id}"
        )
    elif answer.mode == "llm":
        stored = f", stored as entry {answer.cache.entry_id}" if answer.cache.stored else ""
        facts.append(f"cache: miss ({answer.cache.miss_reason}){stored}")
        facts.append(f"{answer.usage.prompt_tokens}+{answer.usage.completion_tokens} tokens, {_money(answer.cost_usd)}")
    if answer.notice:
        facts.append(answer.notice)
    elif answer.mode == "extractive":
        facts.append("no LLM configured (set OPENAI_API_KEY or OPENAI_BASE_URL): best lines from the notes")
    facts.append(f"{answer.latency_ms} ms")
    if answer.interpretation:
        facts.insert(0, answer.interpretation)
    console.print("[dim]" + safe(" · ".join(facts)) + "[/dim]")


@friendly_errors
def ask_cmd(
    question: str = typer.Argument(..., help='A question, e.g. "What did we decide about SSO last week?"'),
    as_of: str | None = typer.Option(None, "--as-of", help="Read 'last week' etc. as of this date (default today)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ask the LLM even if a cached answer would do."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant to ask."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (no streaming)."),
) -> None:
    """Answer a question from your notes, with citations; cached answers cost nothing."""
    from minutebook.api.runtime import open_runtime
    from minutebook.search.answer import ask

    settings = settings_from(tenant)
    with open_runtime(settings) as rt:
        options = rt.ask_options(settings.tenant, as_of=parse_as_of(as_of), use_cache=not no_cache)
        streamed = False

        def on_token(token: str) -> None:
            nonlocal streamed
            streamed = True
            sys.stdout.write(clean(token))
            sys.stdout.flush()

        answer = ask(
            rt.pool,
            rt.embedder,
            rt.llm(),
            rt.prices(),
            question,
            options=options,
            on_token=None if json_out else on_token,
            verifier=rt.verifier(),
        )
    if json_out:
        print_json(asdict(answer))
    else:
        _render_answer(answer, streamed)


@cache_app.command("stats")
@friendly_errors
def cache_stats(
    tenant: str | None = typer.Option(None, "--tenant", "-t"),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """How many answers are cached, how often they were served, what they saved."""
    from minutebook.api.runtime import open_runtime
    from minutebook.cache import semantic_cache
    from minutebook.core.database import tenant_transaction

    settings = settings_from(tenant)
    with open_runtime(settings, check_embeddings=False) as rt, tenant_transaction(rt.pool, settings.tenant) as conn:
        found = semantic_cache.stats(conn, settings.tenant)
    if json_out:
        print_json(found)
        return
    verifiers = found.pop("verifiers", [])
    for k, v in found.items():
        console.print(f"{k:>10}: {v}", highlight=False)
    for v in verifiers:  # whether a model may judge the grey zone, and why
        state = "trusted" if v["trusted"] else "grey zone OFF"
        console.print(
            safe(f"  verifier {v['model']}: {state}: {v['reason']} (checked {v['checked_at']:%Y-%m-%d %H:%M}, "
                 f"canaries {v['canaries']}, {v['approved_hits']} hits approved, {v['rejected_approvals']} rejected)"),
            highlight=False,
        )  # fmt: skip
    if not verifiers:
        console.print("  no verifier checked yet: grey-zone hits wait for a model that passes its canaries")


@cache_app.command("inspect")
@friendly_errors
def cache_inspect(
    tenant: str | None = typer.Option(None, "--tenant", "-t"),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The most recently used cached answers."""
    from minutebook.api.runtime import open_runtime
    from minutebook.cache import semantic_cache
    from minutebook.core.database import tenant_transaction

    settings = settings_from(tenant)
    with open_runtime(settings, check_embeddings=False) as rt, tenant_transaction(rt.pool, settings.tenant) as conn:
        entries = semantic_cache.inspect(conn, settings.tenant, limit=limit)
    if json_out:
        print_json(entries)
        return
    if not entries:
        console.print("no cached answers yet: answers from the LLM are cached as they are asked")
        return
    cols = [Col("id", "number"), Col("question"), Col("hits", "number"), Col("cost", "number"), Col("window", "words")]
    rows = [
        [
            str(e["id"]),
            safe(e["question"]),
            str(e["hit_count"]),
            _money(e["cost_usd"]),
            safe(e["window_key"] or "-"),
            e["expires_at"].strftime("%Y-%m-%d %H:%M"),
        ]
        for e in entries
    ]
    print_table([*cols, Col("expires", "number")], rows, key=2, narrow="records")


@cache_app.command("reject")
@friendly_errors
def cache_reject(
    entry: int = typer.Argument(
        ..., help="The cached answer's id (shown under a cached answer, or by `cache inspect`)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="What was wrong (kept with the rejection)."),
    tenant: str | None = typer.Option(None, "--tenant", "-t"),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Mark a cached answer wrong: it is dropped, and no answer of its kind citing the same
    passages is served from the cache again."""
    from minutebook.api.runtime import open_runtime
    from minutebook.cache import semantic_cache
    from minutebook.core.database import tenant_transaction

    settings = settings_from(tenant)
    with open_runtime(settings, check_embeddings=False) as rt, tenant_transaction(rt.pool, settings.tenant) as conn:
        done = semantic_cache.reject(conn, settings.tenant, entry, reason=reason)
    if done is None:
        raise QueryError(f"no cached answer {entry} for tenant {settings.tenant!r} (see `minutebook cache inspect`)")
    if json_out:
        print_json(asdict(done))
        return
    also = f" and {done.also_dropped} like it" if done.also_dropped else ""
    console.print(
        safe(f"rejected cached answer {done.entry_id}{also} ({done.question!r}); its passages will not answer "
             f"a {done.intent} question from the cache again"),
        highlight=False,
    )  # fmt: skip
    for model in done.distrusted:
        console.print(
            safe(f"verifier {model} approved a hit of it: the grey zone is off for {model} until "
                 f"`minutebook cache reset-verifier {model}`"),
            highlight=False,
        )  # fmt: skip


@cache_app.command("reset-verifier")
@friendly_errors
def cache_reset_verifier(
    model: str | None = typer.Argument(None, help="The verifying model (default: every model of the tenant)."),
    tenant: str | None = typer.Option(None, "--tenant", "-t"),
) -> None:
    """Forget a verifier's standing: before it judges the grey zone again, it must pass its canaries."""
    from minutebook.api.runtime import open_runtime
    from minutebook.cache import trust
    from minutebook.core.database import tenant_transaction

    settings = settings_from(tenant)
    with open_runtime(settings, check_embeddings=False) as rt, tenant_transaction(rt.pool, settings.tenant) as conn:
        gone = trust.reset(conn, settings.tenant, model)
    console.print(f"forgot {gone} verifier standing(s); the canaries are asked before the next grey-zone hit")


@cache_app.command("clear")
@friendly_errors
def cache_clear(
    tenant: str | None = typer.Option(None, "--tenant", "-t"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Drop every cached answer of the tenant (the ledger keeps its history)."""
    from minutebook.api.runtime import open_runtime
    from minutebook.cache import semantic_cache
    from minutebook.core.database import tenant_transaction

    settings = settings_from(tenant)
    if not yes and not typer.confirm(f"clear the answer cache of tenant {settings.tenant!r}?"):
        raise typer.Exit(1)
    with open_runtime(settings, check_embeddings=False) as rt, tenant_transaction(rt.pool, settings.tenant) as conn:
        gone = semantic_cache.clear(conn, settings.tenant)
    console.print(f"cleared {gone} cached answer(s)")


def parse_period(text: str) -> timedelta:
    from minutebook.cache.report import period

    try:
        return period(text)
    except ValueError as exc:
        raise typer.BadParameter(f"--since {exc}") from None


def _render_report(report: CostReport) -> None:
    t = report.totals
    figures = ("questions", "LLM calls", "hit rate", "exact", "semantic", "tokens", "spend", "saved", "savings")
    rows = [
        [
            safe(row["key"]),
            str(row["questions"]),
            f"{row['llm_calls']} ({row['failed_calls']} failed)",
            f"{row['hit_rate']:.0%}",
            str(row["exact_hits"]),
            str(row["semantic_hits"]),
            str(row["prompt_tokens"] + row["completion_tokens"]),
            _money(row["spend_usd"]),
            _money(row["saved_usd"]),
            "-" if row["savings_pct"] is None else f"{row['savings_pct']:.1f}%",
        ]
        for row in [*report.groups, {**t, "key": "total"}]
    ]
    print_table(
        [Col(report.by, "words"), *(Col(f, "number") for f in figures)],
        rows,
        title=f"cost report since {report.since:%Y-%m-%d %H:%M}",
    )
    if t["verify_calls"] or t["canary_calls"]:
        console.print(
            f"of the spend, {_money(t['verify_usd'])} went on {t['verify_calls']} verifications of grey-zone cache "
            f"hits and {_money(t['canary_usd'])} on {t['canary_calls']} canary checks of the verifier: net saved "
            f"{_money(t['net_saved_usd'])}",
            highlight=False,
        )
    console.print(
        f"p50 latency: hits {t['p50_hit_ms'] or '-'} ms, misses {t['p50_miss_ms'] or '-'} ms", highlight=False
    )
    projected = report.projected_month
    console.print(
        f"projected monthly spend: {_money(projected)}"
        + (f" — {report.budget_status}" if report.budget_status else ""),
        highlight=False,
    )
    if report.top_questions:
        console.print("most repeated questions:")
        for q in report.top_questions:
            console.print(
                f"  {q['asked']}× {safe(q['question'])} ({q['served_from_cache']} from cache)", highlight=False
            )


@friendly_errors
def cost_report_cmd(
    since: str = typer.Option("30d", "--since", help="Period to report: 24h, 30d, 4w, 3m."),
    by: str = typer.Option("day", "--by", help="Group by day, model or tenant."),
    budget: str | None = typer.Option(None, "--budget", help="Monthly LLM budget in dollars, e.g. 8000."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    plot_path: Path | None = typer.Option(None, "--plot", help="Write a PNG chart of daily spend vs saved."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Tenant (default: the configured one)."),
    all_tenants: bool = typer.Option(False, "--all-tenants", help="Every tenant (needs an admin database role)."),
) -> None:
    """What the LLM cost, what the cache saved, and where this month's spend is heading."""
    from minutebook.api.runtime import open_runtime
    from minutebook.cache.report import cost_report, plot, report_csv, report_json
    from minutebook.core.database import connect, tenant_transaction

    if by not in ("day", "model", "tenant"):
        raise typer.BadParameter("--by must be day, model or tenant")
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter("--format must be table, json or csv")
    try:
        limit = Decimal(budget) if budget is not None else None
    except InvalidOperation:
        limit = Decimal("NaN")
    if limit is not None and (not limit.is_finite() or limit < 0):
        raise typer.BadParameter("--budget takes a number of dollars, 0 or more, e.g. 8000")
    settings = settings_from(tenant)
    scope = None if all_tenants or by == "tenant" else settings.tenant
    with open_runtime(settings, check_embeddings=False) as rt:
        if scope:
            with tenant_transaction(rt.pool, scope) as conn:
                report = cost_report(conn, tenant=scope, since=parse_period(since), by=by, budget=limit)
        else:  # across tenants: the app role sees one tenant at a time, so this needs the owner
            with connect(rt.database_url) as conn:
                report = cost_report(conn, tenant=None, since=parse_period(since), by=by, budget=limit)
    if plot_path:
        plot(report, plot_path)
        err_console.print(f"chart written to {plot_path}")
    if fmt == "json":
        print_json(report_json(report))
    elif fmt == "csv":
        sys.stdout.write(report_csv(report))
    else:
        _render_report(report)
