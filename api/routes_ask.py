"""/v1/ask (JSON or a token stream), /v1/cost/report and /v1/cache."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from minutebook.api.deps import AppState, state, tenant_slot
from minutebook.api.problems import _TITLES as TITLES
from minutebook.api.problems import ApiProblem
from minutebook.cache import semantic_cache
from minutebook.cache.report import cost_report, period, report_json
from minutebook.core.database import tenant_transaction
from minutebook.core.errors import DatabaseError, MinutebookError
from minutebook.core.llm import Cancelled
from minutebook.search.answer import Answer, AskOptions, ask

router = APIRouter()
log = logging.getLogger("minutebook.api")


class AskIn(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000)
    as_of: date | None = Field(None, description="Read 'last week' etc. as of this day (default today).")
    use_cache: bool = Field(True, description="False asks the LLM even when a cached answer would do.")

    model_config = {"json_schema_extra": {"examples": [{"question": "When will Okta SSO be ready?"}]}}


_ASK_EXAMPLE = {
    "question": "When will Okta SSO be ready?",
    "text": "Okta SSO moved to Nov 15 after the SAML metadata issue [1]; Sarah owns it [2].",
    "mode": "llm",
    "citations": [
        {
            "n": 1,
            "meeting_title": "Weekly TPM Status Meeting - Week of Oct 21-25, 2025",
            "meeting_date": "2025-10-23",
            "when": "2025-10-23",
            "section": "Engineering Deep Dive (Oct 23) › SSO Integration Status",
            "line_start": 41,
            "line_end": 47,
        }
    ],
    "cache": {"hit": False, "miss_reason": "no similar question yet", "stored": True},
    "cost_usd": 0.000142,
    "latency_ms": 812,
}


def _options(s: AppState, tenant_id: str, body: AskIn) -> AskOptions:
    return s.rt.ask_options(tenant_id, as_of=body.as_of or date.today(), use_cache=body.use_cache)


@router.post(
    "/ask",
    tags=["ask"],
    summary="Answer a question with citations (cached answers cost nothing)",
    responses={
        200: {
            "content": {
                "application/json": {"example": _ASK_EXAMPLE},
                "text/event-stream": {
                    "example": 'event: token\ndata: "Okta"\n\nevent: answer\ndata: {"mode": "llm", ...}\n\n'
                },
            }
        },
        502: {"description": "The LLM failed after retries; nothing was cached"},
    },
)
def ask_route(request: Request, body: AskIn, tenant_id: str = Depends(tenant_slot)) -> Any:
    """With `Accept: text/event-stream` the answer streams: `token` events, then one `answer`
    event holding the full answer (as in the JSON response), or an `error` event."""
    s = state(request)
    options = _options(s, tenant_id, body)
    llm = s.rt.llm()
    prices = s.rt.prices()
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            _stream(s, llm, prices, body.question, options),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = ask(s.rt.pool, s.rt.embedder, llm, prices, body.question, options=options, verifier=s.rt.verifier())
    s.metrics.observe_answer(answer)
    return jsonable_encoder(answer)


def sse_event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(jsonable_encoder(data), ensure_ascii=False)}\n\n"


async def _stream(s: AppState, llm: Any, prices: Any, question: str, options: AskOptions) -> AsyncIterator[str]:
    async for kind, data in answer_events(s, llm, prices, question, options):
        yield sse_event(kind, data)


def stream_error(exc: BaseException) -> dict[str, Any]:
    """What an `error` event says: a problem (title, status, detail) and whether to retry. The
    database failing is a 503 to retry, as it is outside a stream, never an "internal error"."""
    if isinstance(exc, psycopg.OperationalError):  # the pool's timeout included
        exc = DatabaseError("the database is unavailable; try again in a moment")
    if isinstance(exc, MinutebookError):
        status, detail = exc.status_code, str(exc)
    else:
        log.error("the streamed answer failed", exc_info=exc)
        status, detail = 500, "the answer failed; it has been logged"
    return {
        "title": TITLES.get(status, type(exc).__name__),
        "status": status,
        "detail": detail,
        "retry": status in (502, 503),
    }


async def answer_events(
    s: AppState, llm: Any, prices: Any, question: str, options: AskOptions
) -> AsyncIterator[tuple[str, Any]]:
    """("token", text)… then ("answer", Answer) or ("error", `stream_error`): the answer as it is
    written (by a thread of its own), for the API's event stream and the web page's.

    If the reader leaves first (the client disconnected), the LLM stream is closed at its next
    token and what it received ledgered; until the thread ends, it still counts against the
    tenant's requests in flight, so that dropped streams cannot escape the tenant's cap."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
    gone = threading.Event()
    state_lock = threading.Lock()
    ended = held = False

    def put(event: tuple[str, Any] | None) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop closed: nobody is reading
            loop.call_soon_threadsafe(events.put_nowait, event)

    def on_token(token: str) -> None:
        if gone.is_set():
            raise Cancelled("the client left before the answer was complete")
        put(("token", token))

    def run() -> None:
        nonlocal ended
        try:
            answer: Answer = ask(
                s.rt.pool, s.rt.embedder, llm, prices, question, options=options, on_token=on_token,
                verifier=s.rt.verifier(),
            )  # fmt: skip
            s.metrics.observe_answer(answer)
            if answer.mode != "llm":  # cached and extractive answers arrive whole
                put(("token", answer.text))
            put(("answer", answer))
        except Exception as exc:  # the stream has started: an error event is the only way to say so
            put(("error", stream_error(exc)))
        finally:
            with state_lock:
                ended = True
                if held:
                    s.requests.give_back(options.tenant)
            put(None)

    threading.Thread(target=run, name="minutebook-ask-stream", daemon=True).start()
    try:
        while (event := await events.get()) is not None:
            yield event
    finally:  # done, or the reader left (cancelled): the thread stops at its next token
        gone.set()
        with state_lock:
            if not ended:
                s.requests.hold(options.tenant)
                held = True


@router.get("/cost/report", tags=["cost"], summary="LLM spend, cache savings and the month's projection")
def cost(
    request: Request,
    since: str = Query("30d", pattern=r"^\d{1,4}[hdwm]$", description="Period: 24h, 30d, 4w, 3m."),
    by: Literal["day", "model"] = Query("day"),
    budget: float | None = Query(None, ge=0, le=1e12, description="Monthly budget in dollars, for the projection."),
    tenant_id: str = Depends(tenant_slot),
) -> dict[str, Any]:
    s = state(request)
    try:
        window = period(since)
    except ValueError as exc:
        raise ApiProblem(422, f"since {exc}") from None
    limit = Decimal(str(budget)) if budget is not None else s.rt.settings.monthly_budget_usd
    with tenant_transaction(s.rt.pool, tenant_id) as conn:
        report = cost_report(
            conn,
            tenant=tenant_id,
            since=window,
            by=by,
            budget=Decimal(str(limit)) if limit is not None else None,
        )
    return jsonable_encoder(report_json(report))


@router.get("/cache/stats", tags=["cache"], summary="Cached answers, hits and savings")
def cache_stats(request: Request, tenant_id: str = Depends(tenant_slot)) -> dict[str, Any]:
    with tenant_transaction(state(request).rt.pool, tenant_id) as conn:
        return jsonable_encoder(semantic_cache.stats(conn, tenant_id))


@router.get("/cache/entries", tags=["cache"], summary="Cached answers, most recently used first")
def cache_entries(
    request: Request, limit: int = Query(50, ge=1, le=1000), tenant_id: str = Depends(tenant_slot)
) -> dict[str, Any]:
    with tenant_transaction(state(request).rt.pool, tenant_id) as conn:
        return {"entries": jsonable_encoder(semantic_cache.inspect(conn, tenant_id, limit=limit))}


class RejectIn(BaseModel):
    reason: str | None = Field(None, max_length=500, description="What was wrong (kept with the rejection).")

    model_config = {"extra": "forbid"}


@router.post(
    "/cache/{entry_id}/reject",
    tags=["cache"],
    summary="Mark a cached answer wrong: never served again, nor one of its kind citing the same passages",
    responses={404: {"description": "No such cached answer for your tenant"}},
)
def cache_reject(
    request: Request, entry_id: int, body: RejectIn | None = None, tenant_id: str = Depends(tenant_slot)
) -> dict[str, Any]:
    with tenant_transaction(state(request).rt.pool, tenant_id) as conn:
        done = semantic_cache.reject(conn, tenant_id, entry_id, reason=body.reason if body else None)
    if done is None:
        raise ApiProblem(404, f"no cached answer {entry_id} (already rejected, expired or dropped?)")
    return {
        "rejected": done.entry_id,
        "question": done.question,
        "intent": done.intent,
        "chunk_ids": done.chunk_ids,
        "also_dropped": done.also_dropped,
    }


@router.delete("/cache", tags=["cache"], summary="Drop every cached answer of your tenant")
def cache_clear(request: Request, tenant_id: str = Depends(tenant_slot)) -> dict[str, int]:
    with tenant_transaction(state(request).rt.pool, tenant_id) as conn:
        return {"cleared": semantic_cache.clear(conn, tenant_id)}
