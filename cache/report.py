"""The cost report: what questions cost, what the cache saved, and where the month is heading."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from minutebook.core.errors import ConfigError

# One way to write money, in the CLI and on the web: cents from a dollar up; below a dollar, where
# single LLM calls live, 4 decimals ($0.0012), and at least 2 significant digits for what is
# smaller still ($0.000042), so a tiny cost never reads as $0.0000
CENT_DECIMALS = 2
SUB_DOLLAR_DECIMALS = 4
TINY_SIGNIFICANT_DIGITS = 2


def usd(value: Decimal | float | int | None) -> str:
    """`$1,234.50`, `$0.0120`, `$0.000042`; "unknown" when the price was not known."""
    if value is None:
        return "unknown"
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    sign, size = ("-" if amount < 0 else ""), abs(amount)
    if size.quantize(Decimal(1).scaleb(-SUB_DOLLAR_DECIMALS)) >= 1:
        return f"{sign}${size:,.{CENT_DECIMALS}f}"
    decimals = SUB_DOLLAR_DECIMALS
    if size:
        decimals = max(decimals, TINY_SIGNIFICANT_DIGITS - 1 - size.adjusted())
    return f"{sign}${size:.{decimals}f}"


GROUPS = {"day": "date_trunc('day', created_at)::date::text", "model": "COALESCE(model, '-')", "tenant": "tenant_id"}


@dataclass
class CostReport:
    since: datetime
    until: datetime
    tenant: str | None
    totals: dict[str, Any]
    groups: list[dict[str, Any]] = field(default_factory=list)
    by: str = "day"
    top_questions: list[dict[str, Any]] = field(default_factory=list)
    daily: list[dict[str, Any]] = field(default_factory=list)
    budget: Decimal | None = None

    @property
    def projected_month(self) -> Decimal | None:
        spend = self.totals.get("spend_usd")
        days = max((self.until - self.since).total_seconds() / 86400, 1 / 24)
        return None if spend is None else Decimal(spend) / Decimal(days) * 30

    @property
    def budget_status(self) -> str | None:
        if self.budget is None or self.projected_month is None:
            return None
        share = self.projected_month / self.budget * 100 if self.budget else Decimal(0)
        verdict = "within" if self.projected_month <= self.budget else "OVER"
        return f"{verdict} budget: projected {usd(self.projected_month)} of {usd(self.budget)}/month ({share:.0f}%)"


# Per question: hits save what their original call cost; misses cost what their LLM calls cost.
_TOTALS = """
WITH q AS (SELECT * FROM questions WHERE created_at >= %(since)s AND created_at < %(until)s {tenant}),
     h AS (SELECT * FROM cache_hits WHERE created_at >= %(since)s AND created_at < %(until)s {tenant}),
     c AS (SELECT * FROM llm_calls WHERE created_at >= %(since)s AND created_at < %(until)s {tenant})
SELECT {group} AS key,
       count(*) AS questions,
       count(*) FILTER (WHERE outcome = 'hit_exact') AS exact_hits,
       count(*) FILTER (WHERE outcome = 'hit_semantic') AS semantic_hits,
       count(*) FILTER (WHERE outcome = 'llm') AS llm_answers,
       count(*) FILTER (WHERE outcome IN ('not_in_notes', 'extractive')) AS free_answers,
       count(*) FILTER (WHERE outcome = 'failed') AS failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome LIKE 'hit_%%') AS p50_hit_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome = 'llm') AS p50_miss_ms
FROM q GROUP BY 1 ORDER BY 1
"""
_CALLS = """
SELECT {group} AS key, count(*) AS llm_calls, count(*) FILTER (WHERE outcome <> 'ok') AS failed_calls,
       sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,
       sum(cached_tokens) AS cached_tokens, sum(cost_usd) AS spend_usd,
       COALESCE(sum(cost_usd) FILTER (WHERE purpose = 'verify'), 0) AS verify_usd,
       count(*) FILTER (WHERE purpose = 'verify') AS verify_calls,
       COALESCE(sum(cost_usd) FILTER (WHERE purpose = 'verify-canary'), 0) AS canary_usd,
       count(*) FILTER (WHERE purpose = 'verify-canary') AS canary_calls,
       bool_or(cost_usd IS NULL AND outcome = 'ok') AS cost_unknown
FROM llm_calls WHERE created_at >= %(since)s AND created_at < %(until)s {tenant} GROUP BY 1
"""
_SAVED = """
SELECT {group} AS key, sum(cost_saved_usd) AS saved_usd, sum(tokens_saved) AS tokens_saved,
       COALESCE(sum(cost_saved_usd) FILTER (WHERE tier = 'exact'), 0) AS saved_exact_usd,
       COALESCE(sum(cost_saved_usd) FILTER (WHERE tier = 'semantic'), 0) AS saved_semantic_usd,
       bool_or(cost_saved_usd IS NULL) AS saved_unknown
FROM cache_hits WHERE created_at >= %(since)s AND created_at < %(until)s {tenant} GROUP BY 1
"""


def _merge(*tables: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    merged: dict[Any, dict[str, Any]] = {}
    for table in tables:
        for row in table:
            merged.setdefault(row["key"], {"key": row["key"]}).update(row)
    return merged


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    questions = row.get("questions") or 0
    hits = (row.get("exact_hits") or 0) + (row.get("semantic_hits") or 0)
    spend = None if row.get("cost_unknown") else Decimal(row.get("spend_usd") or 0)
    saved = None if row.get("saved_unknown") else Decimal(row.get("saved_usd") or 0)
    # part of spend: checking grey-zone cache hits, and checking the verifier itself (cache/trust.py)
    verify = Decimal(row.get("verify_usd") or 0) + Decimal(row.get("canary_usd") or 0)
    net = saved - verify if saved is not None else None
    out = {
        "key": row["key"],
        "questions": questions,
        "llm_calls": row.get("llm_calls") or 0,
        "failed_calls": row.get("failed_calls") or 0,
        "exact_hits": row.get("exact_hits") or 0,
        "semantic_hits": row.get("semantic_hits") or 0,
        "hit_rate": round(hits / questions, 4) if questions else 0.0,
        "exact_hit_rate": round((row.get("exact_hits") or 0) / questions, 4) if questions else 0.0,
        "semantic_hit_rate": round((row.get("semantic_hits") or 0) / questions, 4) if questions else 0.0,
        "prompt_tokens": row.get("prompt_tokens") or 0,
        "completion_tokens": row.get("completion_tokens") or 0,
        "cached_tokens": row.get("cached_tokens") or 0,
        "tokens_saved": row.get("tokens_saved") or 0,
        "spend_usd": spend,
        "saved_usd": saved,
        "saved_exact_usd": Decimal(row.get("saved_exact_usd") or 0),  # gross, by the tier that served it
        "saved_semantic_usd": Decimal(row.get("saved_semantic_usd") or 0),
        "verify_calls": row.get("verify_calls") or 0,
        "verify_usd": Decimal(row.get("verify_usd") or 0),
        "canary_calls": row.get("canary_calls") or 0,
        "canary_usd": Decimal(row.get("canary_usd") or 0),
        "net_saved_usd": net,
        # of what the questions would have cost with no cache: saved, net of the verifications and canaries
        "savings_pct": round(float(net / (spend - verify + saved) * 100), 2)
        if spend is not None and saved is not None and net is not None and spend - verify + saved > 0
        else None,
        "p50_hit_ms": row.get("p50_hit_ms"),
        "p50_miss_ms": row.get("p50_miss_ms"),
    }
    return out


def period(text: str) -> timedelta:
    """ "24h", "30d", "4w", "3m" (a month is 30 days)."""
    m = re.fullmatch(r"\s*(\d{1,4})\s*([hdwm])\s*", text.lower())
    if not m:
        raise ValueError("takes a period like 24h, 30d, 4w or 3m")
    n, unit = int(m[1]), m[2]
    return {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n), "m": timedelta(days=30 * n)}[unit]


def cost_report(
    conn: psycopg.Connection,
    *,
    tenant: str | None,
    since: timedelta = timedelta(days=30),
    by: str = "day",
    budget: Decimal | None = None,
    now: datetime | None = None,
) -> CostReport:
    if by not in GROUPS:
        raise ValueError(f"--by must be one of {', '.join(GROUPS)}")
    until = now or datetime.now().astimezone()
    start = until - since
    tenant_sql = "AND tenant_id = %(tenant)s" if tenant else ""
    params = {"since": start, "until": until + timedelta(seconds=1), "tenant": tenant}

    def run(sql: str, group: str) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql.format(group=group, tenant=tenant_sql), params).fetchall()

    totals_raw = _merge(run(_TOTALS, "'all'"), run(_CALLS, "'all'"), run(_SAVED, "'all'"))
    totals = _finish(totals_raw.get("all", {"key": "all"}))
    grouped = _merge(run(_TOTALS, GROUPS[by]), run(_CALLS, GROUPS[by]), run(_SAVED, GROUPS[by]))
    daily = _merge(run(_CALLS, GROUPS["day"]), run(_SAVED, GROUPS["day"]))
    with conn.cursor(row_factory=dict_row) as cur:
        top = cur.execute(
            f"""SELECT question_norm AS question, count(*) AS asked,
                       count(*) FILTER (WHERE outcome LIKE 'hit_%%') AS served_from_cache
                FROM questions WHERE created_at >= %(since)s AND created_at < %(until)s {tenant_sql}
                GROUP BY question_norm HAVING count(*) > 1 ORDER BY count(*) DESC, question_norm LIMIT 10""",
            params,
        ).fetchall()
    return CostReport(
        start,
        until,
        tenant,
        totals,
        [_finish(r) for _, r in sorted(grouped.items())],
        by,
        top,
        [_finish(r) for _, r in sorted(daily.items())],
        budget,
    )


def report_json(report: CostReport) -> dict[str, Any]:
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "tenant": report.tenant,
        "totals": report.totals,
        "by": report.by,
        "groups": report.groups,
        "projected_month_usd": report.projected_month,
        "budget_usd": report.budget,
        "budget_status": report.budget_status,
        "most_repeated_questions": report.top_questions,
    }


def report_csv(report: CostReport) -> str:
    out = io.StringIO()
    fields = list(report.totals)
    writer = csv.DictWriter(out, fieldnames=[report.by if f == "key" else f for f in fields])
    writer.writeheader()
    for row in [*report.groups, {**report.totals, "key": "total"}]:
        writer.writerow({(report.by if k == "key" else k): ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


def plot(report: CostReport, path: Path) -> Path:
    """Daily spend against what the cache saved, as a PNG (needs the `plot` extra)."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'minutebook[plot]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [r["key"] for r in report.daily]
    spend = [float(r["spend_usd"] or 0) for r in report.daily]
    saved = [float(r["saved_usd"] or 0) for r in report.daily]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    x = range(len(days))
    ax.bar([i - 0.2 for i in x], spend, width=0.4, label="LLM spend ($)", color="#d9534f")
    ax.bar([i + 0.2 for i in x], saved, width=0.4, label="saved by cache ($)", color="#5cb85c")
    ax.set_xticks(list(x), days, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("US dollars")
    total = report.totals
    ax.set_title(f"minutebook: daily LLM spend vs cache savings (savings {total.get('savings_pct') or 0}%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
