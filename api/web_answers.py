"""Web pages about answers and their cost: ask (streamed), costs, and the cache."""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from minutebook.api import web_pages
from minutebook.api.deps import AppState, state
from minutebook.api.problems import ApiProblem
from minutebook.api.routes_ask import answer_events, sse_event
from minutebook.api.web import EntityId, Visitor, checked_form, render, visitor, web_state
from minutebook.core.database import tenant_transaction

router = APIRouter(include_in_schema=False)


# -- ask


@router.get("/", response_class=HTMLResponse)
def ask_page(request: Request, q: str = "", who: Visitor = Depends(visitor)) -> HTMLResponse:
    from minutebook.cache.ledger import recent_questions

    with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
        recent = recent_questions(conn, who.tenant)
    return render(request, "ask.html", who, page="ask", question=q[:2000], answer=None, recent=recent)


@router.post("/ask", response_model=None)
async def ask_submit(request: Request, who: Visitor = Depends(visitor)) -> Response:
    """With `Accept: text/event-stream` (the page's script) the answer streams as /v1/ask's does,
    followed by an `html` event holding the rendered answer; without script, a page."""
    form = await checked_form(request, who)
    question = str(form.get("question") or "").strip()
    if not question or len(question) > 2000:
        return render(
            request, "ask.html", who, status=422, page="ask", question=question[:2000], answer=None,
            error="Type a question (up to 2,000 characters).",
        )  # fmt: skip
    s = state(request)
    options = s.rt.ask_options(who.tenant, as_of=date.today(), use_cache=form.get("no_cache") is None)
    llm, prices = s.rt.llm(), s.rt.prices()
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            _page_events(request, s, llm, prices, question, options, who.csrf),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    events = [event async for event in answer_events(s, llm, prices, question, options)]
    kind, data = events[-1]
    if kind == "error":
        return render(
            request, "ask.html", who, status=data["status"], page="ask", question=question, answer=None,
            error=data["detail"],
        )  # fmt: skip
    return render(request, "ask.html", who, page="ask", question=question, answer=data)


async def _page_events(
    request: Request, s: AppState, llm: Any, prices: Any, question: str, options: Any, csrf: str
) -> AsyncIterator[str]:
    env = web_state(request).env
    async for kind, data in answer_events(s, llm, prices, question, options):
        if kind == "answer":
            yield sse_event("html", env.get_template("_answer.html").render(answer=data, csrf=csrf))
        yield sse_event(kind, data)


# -- costs


@router.get("/costs", response_class=HTMLResponse)
def costs_page(request: Request, since: str = "30d", budget: str = "", who: Visitor = Depends(visitor)) -> HTMLResponse:
    from minutebook.cache.ledger import spent_this_month
    from minutebook.cache.report import cost_report, period, report_json

    s = state(request)
    error = None
    try:
        window = period(since)
    except ValueError as exc:
        window, error = period("30d"), f"period {exc}"
    limit: Decimal | None = None
    if budget.strip():
        try:
            limit = Decimal(budget.strip())
            if not limit.is_finite() or limit < 0 or limit > 10**12:
                raise InvalidOperation
        except InvalidOperation:
            error, limit = "budget must be a number of dollars (up to 10^12), like 50", None
    elif s.rt.settings.monthly_budget_usd is not None:
        limit = Decimal(str(s.rt.settings.monthly_budget_usd))
    with tenant_transaction(s.rt.pool, who.tenant) as conn:
        by_day = cost_report(conn, tenant=who.tenant, since=window, by="day", budget=limit)
        by_model = cost_report(conn, tenant=who.tenant, since=window, by="model", budget=limit, now=by_day.until)
        month = spent_this_month(conn, who.tenant)
    today = date.today()
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    bars = web_pages.daily_bars(by_day.groups, by_day.since, by_day.until)
    return render(
        request, "costs.html", who, status=422 if error else 200, page="costs", report=report_json(by_day),
        models=by_model.groups, chart=web_pages.cost_chart(bars), bars=bars, series=web_pages.SERIES,
        month_spent=month, month_projection=month / today.day * days_in_month, budget=limit,
        form={"since": since, "budget": budget}, error=error,
    )  # fmt: skip


# -- cache


@router.get("/cache", response_class=HTMLResponse)
def cache_page(
    request: Request, cleared: str = "", rejected: str = "", who: Visitor = Depends(visitor)
) -> HTMLResponse:
    from minutebook.cache import semantic_cache

    with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
        stats = semantic_cache.stats(conn, who.tenant)
        entries = semantic_cache.inspect(conn, who.tenant, limit=200)
    return render(
        request, "cache.html", who, page="cache", stats=stats, entries=entries, cleared=cleared[:12],
        rejected=rejected[:12],
    )  # fmt: skip


@router.post("/cache/{entry_id}/reject", response_model=None)
async def cache_reject(request: Request, entry_id: EntityId, who: Visitor = Depends(visitor)) -> Response:
    """As `minutebook cache reject`: the answer is dropped and its kind is not served again."""
    from minutebook.cache import semantic_cache

    form = await checked_form(request, who)
    reason = str(form.get("reason") or "").strip()[:500] or "marked wrong on the cache page"

    def reject() -> Any:
        with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
            return semantic_cache.reject(conn, who.tenant, entry_id, reason=reason)

    if await run_in_threadpool(reject) is None:
        raise ApiProblem(404, f"no cached answer {entry_id} (already rejected, expired or cleared?)")
    return RedirectResponse(f"/cache?rejected={entry_id}", status_code=303)


@router.get("/cache/clear", response_class=HTMLResponse)
def cache_clear_confirm(request: Request, who: Visitor = Depends(visitor)) -> HTMLResponse:
    from minutebook.cache import semantic_cache

    with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
        stats = semantic_cache.stats(conn, who.tenant)
    return render(request, "cache_clear.html", who, page="cache", stats=stats)


@router.post("/cache/clear", response_model=None)
async def cache_clear(request: Request, who: Visitor = Depends(visitor)) -> Response:
    from minutebook.cache import semantic_cache

    await checked_form(request, who)

    def clear() -> int:
        with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
            return semantic_cache.clear(conn, who.tenant)

    cleared = await run_in_threadpool(clear)
    return RedirectResponse(f"/cache?cleared={cleared}", status_code=303)
