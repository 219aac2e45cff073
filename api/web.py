"""The web pages at `/`: each is one service call (the same one its /v1 twin makes), rendered
through a Jinja template. Sign-in exchanges an API key for a session cookie; keyless on loopback
until a key exists, as the API is. Every state-changing form carries a CSRF token."""

from __future__ import annotations

import calendar
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment
from starlette.datastructures import UploadFile

from minutebook import __version__
from minutebook.api import web_pages
from minutebook.api.deps import AppState, state
from minutebook.api.keys import hash_key
from minutebook.api.problems import ApiProblem
from minutebook.api.ratelimit import TokenBuckets
from minutebook.api.routes_ask import _event, answer_events
from minutebook.api.routes_notes import MAX_FILES, ingest_received, read_note
from minutebook.api.web_session import (
    CSRF_FIELD,
    CSRF_HEADER,
    NONCE_COOKIE,
    SESSION_COOKIE,
    Signer,
    browser_nonce,
    load_secret,
    set_cookie,
)
from minutebook.core.database import tenant_transaction
from minutebook.core.dates import parse_given_date
from minutebook.core.errors import MinutebookError
from minutebook.ingest.extract import ITEM_KINDS, ITEM_STATUSES
from minutebook.ingest.pipeline import FileOutcome
from minutebook.ingest.reader import NoteText

router = APIRouter(include_in_schema=False)

# API paths keep problem+json and their own headers; everything else is a page
_API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass
class WebState:
    signer: Signer
    env: Environment


@dataclass(frozen=True)
class Visitor:
    tenant: str
    nonce: str
    new_nonce: bool
    csrf: str
    signed_in: bool  # a session (which can be signed out), not keyless loopback
    started: float


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def install(app: FastAPI) -> None:
    s: AppState = app.state.minutebook
    settings = s.rt.settings
    app.state.web = WebState(
        Signer(load_secret(settings.web_secret, settings.home), session_seconds=settings.web_session_hours * 3600),
        web_pages.environment(),
    )

    @app.middleware("http")
    async def page_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if is_page(request.url.path):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={quote(exc.next_path, safe='/')}", status_code=303)

    app.mount("/static", StaticFiles(directory=web_pages.STATIC), name="static")
    app.include_router(router)


def is_page(path: str) -> bool:
    return not path.startswith(_API_PREFIXES)


def _web(request: Request) -> WebState:
    return request.app.state.web


def error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None) -> Response | None:
    """The API's errors, as a page, for requests to pages."""
    if not is_page(request.url.path) or not hasattr(request.app.state, "web"):
        return None
    html = (
        _web(request)
        .env.get_template("error.html")
        .render(status=status, detail=detail, visitor=None, version=__version__, elapsed_ms=None, page="error")
    )
    return HTMLResponse(html, status_code=status, headers=headers)


async def visitor(request: Request) -> AsyncIterator[Visitor]:
    """Who is browsing: a signed session, or the keyless loopback tenant while no key exists.
    Holds one of the tenant's request slots, as an API request does."""
    started = time.perf_counter()
    s, web = state(request), _web(request)
    nonce, new_nonce = browser_nonce(request)
    session = web.signer.read_session(request.cookies.get(SESSION_COOKIE))
    tenant = None
    if session is not None:
        found = await run_in_threadpool(s.keys.tenant_for_digest, session.key_digest)
        tenant = found if found == session.tenant else None  # revoked keys end their sessions
    signed_in = tenant is not None
    if tenant is None and s.keyless_tenant and not await run_in_threadpool(s.keys.keys_configured):
        tenant = s.keyless_tenant
    if tenant is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/")
    wait = s.buckets.take(tenant)
    if wait > 0:
        raise ApiProblem(
            429, "too many requests: wait a moment", headers={"Retry-After": TokenBuckets.retry_after(wait)}
        )
    async with s.requests.waiting(tenant, "requests"):
        yield Visitor(tenant, nonce, new_nonce, web.signer.csrf_token(nonce), signed_in, started)


def _check_csrf(request: Request, who: Visitor, token: Any) -> None:
    token = token if isinstance(token, str) else request.headers.get(CSRF_HEADER)
    if who.new_nonce or not _web(request).signer.csrf_ok(who.nonce, token):
        raise ApiProblem(403, "this form expired or came from another site: reload the page and send it again")


def _render(request: Request, template: str, who: Visitor | None, *, status: int = 200, **context: Any) -> HTMLResponse:
    elapsed = round((time.perf_counter() - who.started) * 1000) if who else None
    html = (
        _web(request)
        .env.get_template(template)
        .render(visitor=who, version=__version__, elapsed_ms=elapsed, today=date.today(), **context)
    )
    response = HTMLResponse(html, status_code=status)
    _remember_browser(request, response, who)
    return response


def _remember_browser(request: Request, response: Response, who: Visitor | None) -> None:
    if who is not None and who.new_nonce:
        set_cookie(response, request, NONCE_COOKIE, who.nonce, max_age=None)


def _date(value: str | None, name: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise MinutebookPageError(f"{name}: {value.strip()[:40]!r} is not a date like 2025-11-03") from None


def _int(value: str | None, name: str) -> int | None:
    if not value or not value.strip():
        return None
    if not value.strip().isdigit() or len(value.strip()) > 18:
        raise MinutebookPageError(f"{name} must be a number")
    return int(value)


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise MinutebookPageError(f"{name} must be one of {', '.join(allowed)}")
    return value


class MinutebookPageError(ValueError):
    """A form value the page cannot use: shown above the form, the form kept as typed."""


# -- ask


@router.get("/", response_class=HTMLResponse)
def ask_page(request: Request, q: str = "", who: Visitor = Depends(visitor)) -> HTMLResponse:
    return _render(request, "ask.html", who, page="ask", question=q[:2000], answer=None)


@router.post("/ask", response_model=None)
async def ask_submit(request: Request, who: Visitor = Depends(visitor)) -> Response:
    """With `Accept: text/event-stream` (the page's script) the answer streams as /v1/ask's does,
    followed by an `html` event holding the rendered answer; without script, a page."""
    form = await request.form(max_files=0, max_fields=10)
    _check_csrf(request, who, form.get(CSRF_FIELD))
    question = str(form.get("question") or "").strip()
    if not question or len(question) > 2000:
        return _render(
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
    events = await run_in_threadpool(lambda: list(answer_events(s, llm, prices, question, options)))
    kind, data = events[-1]
    if kind == "error":
        return _render(
            request, "ask.html", who, status=502, page="ask", question=question, answer=None, error=data["detail"]
        )
    return _render(request, "ask.html", who, page="ask", question=question, answer=data)


def _page_events(
    request: Request, s: AppState, llm: Any, prices: Any, question: str, options: Any, csrf: str
) -> Iterator[str]:
    env = _web(request).env
    for kind, data in answer_events(s, llm, prices, question, options):
        if kind == "answer":
            yield _event("html", env.get_template("_answer.html").render(answer=data, csrf=csrf))
        yield _event(kind, data)


# -- search


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: str = "",
    since: str = "",
    until: str = "",
    person: str = "",
    meeting: str = "",
    kind: str = "",
    who: Visitor = Depends(visitor),
) -> HTMLResponse:
    from minutebook.search.meetings import list_meetings
    from minutebook.search.notes_search import search_notes

    rt = state(request).rt
    form = {"q": q[:1000], "since": since, "until": until, "person": person[:200], "meeting": meeting, "kind": kind}
    result, error = None, None
    with tenant_transaction(rt.pool, who.tenant) as conn:
        meetings = list_meetings(conn, limit=500)
    if q.strip():
        try:
            result = search_notes(
                rt.pool, rt.embedder, q[:1000], tenant=who.tenant, as_of=date.today(),
                since=_date(since, "from"), until=_date(until, "to"), person=person.strip()[:200] or None,
                meeting_id=_int(meeting, "meeting"), kind=_choice(kind, ITEM_KINDS, "kind"), k=10,
            )  # fmt: skip
        except (MinutebookPageError, MinutebookError) as exc:
            error = str(exc)
    return _render(
        request, "search.html", who, status=422 if error else 200, page="search", form=form, result=result,
        meetings=meetings, kinds=ITEM_KINDS, error=error,
    )  # fmt: skip


# -- owners and items


@router.get("/owners", response_class=HTMLResponse)
def owners_page(
    request: Request,
    topic: str = "",
    owner: str = "",
    status: str = "",
    kind: str = "",
    due_before: str = "",
    group: str = "owner",
    who: Visitor = Depends(visitor),
) -> HTMLResponse:
    from minutebook.search.owners import list_items, owner_of

    rt = state(request).rt
    form = {"topic": topic[:500], "owner": owner[:200], "status": status, "kind": kind, "due_before": due_before}
    group = group if group in ("owner", "status", "due") else "owner"
    answer, items, error = None, [], None
    try:
        if topic.strip():
            answer = owner_of(rt.pool, rt.embedder, topic[:500], tenant=who.tenant)
        with tenant_transaction(rt.pool, who.tenant) as conn:
            items = list_items(
                conn, tenant=who.tenant, owner=owner.strip() or None, status=_choice(status, ITEM_STATUSES, "status"),
                kind=_choice(kind, ITEM_KINDS, "kind"), due_before=_date(due_before, "due before"), limit=500,
            )  # fmt: skip
    except (MinutebookPageError, MinutebookError) as exc:
        error = str(exc)
    return _render(
        request, "owners.html", who, status=422 if error else 200, page="owners", form=form, group=group,
        answer=answer, board=_board(items, group), count=len(items), kinds=ITEM_KINDS, statuses=ITEM_STATUSES,
        error=error,
    )  # fmt: skip


def _board(items: list[Any], group: str) -> list[tuple[str, list[Any]]]:
    """Columns of the items board: by owner, by status, or by when they are due."""
    today = date.today()
    columns: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        if group == "status":
            keys = [item.status.replace("_", " ")]
        elif group == "due":
            if item.due_date is None:
                keys = ["no due date"]
            elif item.overdue(today):
                keys = ["overdue"]
            else:
                keys = [item.due_date.strftime("%Y-%m")]
        else:
            keys = [o.name for o in item.owners] or ["unassigned"]
        for key in keys:
            columns[key].append(item)
    order = sorted(columns, key=lambda k: (k in ("unassigned", "no due date"), k != "overdue", k.lower()))
    return [(k, columns[k]) for k in order]


# -- meetings


@router.get("/meetings", response_class=HTMLResponse)
def meetings_page(
    request: Request, since: str = "", until: str = "", page_no: int = 1, who: Visitor = Depends(visitor)
) -> HTMLResponse:
    from minutebook.search.meetings import list_meetings

    per_page = 50
    page_no = max(1, min(page_no, 100_000))
    found, error = [], None
    try:
        window = (_date(since, "from"), _date(until, "to"))
        with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
            found = list_meetings(
                conn, since=window[0], until=window[1], limit=per_page + 1, offset=(page_no - 1) * per_page
            )
    except MinutebookPageError as exc:
        error = str(exc)
    return _render(
        request, "meetings.html", who, status=422 if error else 200, page="meetings", meetings=found[:per_page],
        more=len(found) > per_page, page_no=page_no, form={"since": since, "until": until}, error=error,
    )  # fmt: skip


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
def meeting_page(request: Request, meeting_id: int, lines: str = "", who: Visitor = Depends(visitor)) -> HTMLResponse:
    from minutebook.search.meetings import get_meeting

    if not 1 <= meeting_id <= 2**62:
        raise ApiProblem(404, f"no meeting {meeting_id}")
    with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
        found = get_meeting(conn, meeting_id, tenant=who.tenant, with_text=True)
    if found is None:
        raise ApiProblem(404, f"no meeting {meeting_id} in your notes")
    span = web_pages.line_span(lines)
    return _render(
        request, "meeting.html", who, page="meetings", m=found, span=span,
        blocks=web_pages.note_blocks(found.lines or [], found.passages),
    )  # fmt: skip


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
    return _render(
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
    return _render(
        request, "cache.html", who, page="cache", stats=stats, entries=entries, cleared=cleared[:12],
        rejected=rejected[:12],
    )  # fmt: skip


@router.post("/cache/{entry_id}/reject", response_model=None)
async def cache_reject(request: Request, entry_id: int, who: Visitor = Depends(visitor)) -> Response:
    """As `minutebook cache reject`: the answer is dropped and its kind is not served again."""
    from minutebook.cache import semantic_cache

    form = await request.form(max_files=0, max_fields=5)
    _check_csrf(request, who, form.get(CSRF_FIELD))
    reason = str(form.get("reason") or "").strip()[:500] or "marked wrong on the cache page"

    def reject() -> Any:
        with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
            return semantic_cache.reject(conn, who.tenant, entry_id, reason=reason)

    if not 1 <= entry_id <= 2**62 or await run_in_threadpool(reject) is None:
        raise ApiProblem(404, f"no cached answer {entry_id} (already rejected, expired or cleared?)")
    return RedirectResponse(f"/cache?rejected={entry_id}", status_code=303)


@router.get("/cache/clear", response_class=HTMLResponse)
def cache_clear_confirm(request: Request, who: Visitor = Depends(visitor)) -> HTMLResponse:
    from minutebook.cache import semantic_cache

    with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
        stats = semantic_cache.stats(conn, who.tenant)
    return _render(request, "cache_clear.html", who, page="cache", stats=stats)


@router.post("/cache/clear", response_model=None)
async def cache_clear(request: Request, who: Visitor = Depends(visitor)) -> Response:
    from minutebook.cache import semantic_cache

    form = await request.form(max_files=0, max_fields=5)
    _check_csrf(request, who, form.get(CSRF_FIELD))

    def clear() -> int:
        with tenant_transaction(state(request).rt.pool, who.tenant) as conn:
            return semantic_cache.clear(conn, who.tenant)

    cleared = await run_in_threadpool(clear)
    return RedirectResponse(f"/cache?cleared={cleared}", status_code=303)


# -- upload


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, who: Visitor = Depends(visitor)) -> HTMLResponse:
    return _render(request, "upload.html", who, page="upload", result=None, form={"date": ""})


@router.post("/upload", response_class=HTMLResponse)
async def upload(request: Request, who: Visitor = Depends(visitor)) -> HTMLResponse:
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES + 5)
    except Exception as exc:  # malformed multipart bodies raise parser-specific errors
        raise ApiProblem(400, f"cannot read the upload: {exc}") from None
    _check_csrf(request, who, form.get(CSRF_FIELD))
    when = str(form.get("date") or "").strip()[:40]
    uploads = [v for v in form.getlist("files") if isinstance(v, UploadFile) and (v.filename or v.size)]
    error = None if uploads else "Choose one or more notes to upload."
    given = None
    if when:
        try:
            given = parse_given_date(when)
        except ValueError as exc:
            error = str(exc)
    result = None
    if error is None:
        max_bytes = state(request).rt.settings.max_note_bytes
        notes: list[NoteText | FileOutcome] = [read_note(await u.read(), u.filename or "", max_bytes) for u in uploads]
        result = jsonable_encoder(await run_in_threadpool(ingest_received, state(request), who.tenant, notes, given))
    return _render(
        request, "upload.html", who, status=422 if error else 200, page="upload", result=result,
        form={"date": when}, error=error,
    )  # fmt: skip


# -- sign-in


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    return await _sign_in_form(request, next)


async def _sign_in_form(
    request: Request, next_path: str, *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    s, web = state(request), _web(request)
    nonce, new = browser_nonce(request)
    keyless = bool(s.keyless_tenant) and not await run_in_threadpool(s.keys.keys_configured)
    html = web.env.get_template("sign_in.html").render(
        visitor=None, version=__version__, elapsed_ms=None, page="sign-in", csrf=web.signer.csrf_token(nonce),
        next=_local(next_path), keyless=keyless, error=error,
    )  # fmt: skip
    response = HTMLResponse(html, status_code=status)
    if new:
        set_cookie(response, request, NONCE_COOKIE, nonce, max_age=None)
    return response


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request) -> Response:
    s, web = state(request), _web(request)
    form = await request.form(max_files=0, max_fields=5)
    next_path = _local(str(form.get("next") or "/"))
    nonce, new = browser_nonce(request)
    if new or not web.signer.csrf_ok(nonce, str(form.get(CSRF_FIELD) or "")):
        return await _sign_in_form(request, next_path, status=403, error="The form expired: send it again.")
    key = str(form.get("key") or "").strip()[:200]
    tenant = await run_in_threadpool(s.keys.tenant_for, key) if key else None
    if tenant is None:
        address = request.client.host if request.client else "unknown"
        if s.buckets.take(f"address\x1f{address}") > 0:
            return await _sign_in_form(request, next_path, status=429, error="Too many attempts: wait a moment.")
        return await _sign_in_form(request, next_path, status=401, error="That key is unknown or revoked.")
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(
        response, request, SESSION_COOKIE, web.signer.session_cookie(tenant, hash_key(key)),
        max_age=int(web.signer.session_seconds),
    )  # fmt: skip
    return response


@router.post("/sign-out", response_model=None)
async def sign_out(request: Request, who: Visitor = Depends(visitor)) -> Response:
    form = await request.form(max_files=0, max_fields=5)
    _check_csrf(request, who, form.get(CSRF_FIELD))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _local(path: str) -> str:
    """Only a path on this site: never a redirect to another."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > 2000:
        return "/"
    return path
