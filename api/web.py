"""The web pages at `/`: what every page needs (who is browsing, CSRF, rendering, errors as
pages) and sign-in. The pages themselves are in `web_answers.py` and `web_notes.py`; each makes
the service call its /v1 twin makes and renders it through a Jinja template.

Sign-in exchanges an API key for a session cookie that names a row the server keeps, so that
sign-out ends every copy of the cookie; keyless on loopback until a key exists, as the API is.
Every state-changing form carries a CSRF token."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment
from starlette.datastructures import FormData

from minutebook import __version__
from minutebook.api import web_pages
from minutebook.api.deps import AppState, state
from minutebook.api.keys import hash_key
from minutebook.api.problems import ApiProblem
from minutebook.api.ratelimit import TokenBuckets
from minutebook.api.web_session import (
    CSRF_FIELD,
    CSRF_HEADER,
    NONCE_COOKIE,
    SESSION_COOKIE,
    Session,
    Signer,
    browser_nonce,
    end_session,
    load_secret,
    record_session,
    session_recorded,
    set_cookie,
)

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


EntityId = Annotated[int, Path(ge=1, le=2**62)]  # ids in page paths: out of range is a 422 page, as in /v1


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
            # a tenant's pages stay out of shared caches and the back button after sign-out;
            # the stylesheet and script are versioned by URL, so they may be kept
            static = request.url.path.startswith("/static/")
            response.headers.setdefault("Cache-Control", "public, max-age=86400" if static else "no-store")
        return response

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={quote(exc.next_path, safe='/')}", status_code=303)

    from minutebook.api import web_answers, web_notes  # their pages build on what this module defines

    app.mount("/static", StaticFiles(directory=web_pages.STATIC), name="static")
    app.include_router(router)
    app.include_router(web_answers.router)
    app.include_router(web_notes.router)


def is_page(path: str) -> bool:
    return not path.startswith(_API_PREFIXES)


def web_state(request: Request) -> WebState:
    return request.app.state.web


def error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None) -> Response | None:
    """The API's errors, as a page, for requests to pages."""
    if not is_page(request.url.path) or not hasattr(request.app.state, "web"):
        return None
    return render(request, "error.html", None, status=status, headers=headers, detail=detail, page="error")


async def visitor(request: Request) -> AsyncIterator[Visitor]:
    """Who is browsing: a signed session, or the keyless loopback tenant while no key exists.
    Holds one of the tenant's request slots, as an API request does."""
    started = time.perf_counter()
    s, web = state(request), web_state(request)
    nonce, new_nonce = browser_nonce(request)
    session = web.signer.read_session(request.cookies.get(SESSION_COOKIE))
    tenant = await run_in_threadpool(_session_tenant, s, session) if session is not None else None
    signed_in = tenant is not None
    if tenant is None and s.keyless_tenant and not await run_in_threadpool(s.keys.keys_configured):
        tenant = s.keyless_tenant
    if tenant is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/")
    wait = await run_in_threadpool(s.buckets.take, tenant)  # a database round trip
    if wait > 0:
        raise ApiProblem(
            429, "too many requests: wait a moment", headers={"Retry-After": TokenBuckets.retry_after(wait)}
        )
    async with s.requests.waiting(tenant, "requests"):
        yield Visitor(tenant, nonce, new_nonce, web.signer.csrf_token(nonce), signed_in, started)


def _session_tenant(s: AppState, session: Session) -> str | None:
    """The tenant a session acts for while its key is live (revoked keys end their sessions)
    and the server still has it (signed out: gone, whichever copy of the cookie comes back)."""
    if s.keys.tenant_for_digest(session.key_digest) != session.tenant:
        return None
    return session.tenant if session_recorded(s.rt.pool, session) else None


def check_csrf(request: Request, who: Visitor, token: Any) -> None:
    token = token if isinstance(token, str) else request.headers.get(CSRF_HEADER)
    if who.new_nonce or not web_state(request).signer.csrf_ok(who.nonce, token):
        raise ApiProblem(403, "this form expired or came from another site: reload the page and send it again")


def render(
    request: Request,
    template: str,
    who: Visitor | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page: the template with what every page shows (version, the time it took). A browser
    seen for the first time gets its CSRF nonce cookie."""
    elapsed = round((time.perf_counter() - who.started) * 1000) if who else None
    html = (
        web_state(request)
        .env.get_template(template)
        .render(visitor=who, version=__version__, elapsed_ms=elapsed, today=date.today(), **context)
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    if who is not None and who.new_nonce:
        set_cookie(response, request, NONCE_COOKIE, who.nonce, max_age=None)
    return response


async def checked_form(request: Request, who: Visitor, *, max_fields: int = 5) -> FormData:
    """A state-changing form's fields, once its CSRF token is known to be this browser's."""
    form = await request.form(max_files=0, max_fields=max_fields)
    check_csrf(request, who, form.get(CSRF_FIELD))
    return form


def form_date(value: str | None, name: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PageError(f"{name}: {value.strip()[:40]!r} is not a date like 2025-11-03") from None


def form_int(value: str | None, name: str) -> int | None:
    if not value or not value.strip():
        return None
    if not value.strip().isdigit() or len(value.strip()) > 18:
        raise PageError(f"{name} must be a number")
    return int(value)


def choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise PageError(f"{name} must be one of {', '.join(allowed)}")
    return value


class PageError(ValueError):
    """A form value the page cannot use: shown above the form, the form kept as typed."""


# -- sign-in


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    return await _sign_in_form(request, next)


async def _sign_in_form(
    request: Request, next_path: str, *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    s, web = state(request), web_state(request)
    nonce, new = browser_nonce(request)
    keyless = bool(s.keyless_tenant) and not await run_in_threadpool(s.keys.keys_configured)
    response = render(
        request, "sign_in.html", None, status=status, page="sign-in", csrf=web.signer.csrf_token(nonce),
        next=_local(next_path), keyless=keyless, error=error,
    )  # fmt: skip
    if new:
        set_cookie(response, request, NONCE_COOKIE, nonce, max_age=None)
    return response


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request) -> Response:
    s, web = state(request), web_state(request)
    form = await request.form(max_files=0, max_fields=5)
    next_path = _local(str(form.get("next") or "/"))
    nonce, new = browser_nonce(request)
    if new or not web.signer.csrf_ok(nonce, str(form.get(CSRF_FIELD) or "")):
        return await _sign_in_form(request, next_path, status=403, error="The form expired: send it again.")
    key = str(form.get("key") or "").strip()[:200]
    tenant = await run_in_threadpool(s.keys.tenant_for, key) if key else None
    if tenant is None:
        address = request.client.host if request.client else "unknown"
        if await run_in_threadpool(s.buckets.take, f"address\x1f{address}") > 0:
            return await _sign_in_form(request, next_path, status=429, error="Too many attempts: wait a moment.")
        return await _sign_in_form(request, next_path, status=401, error="That key is unknown or revoked.")
    session = web.signer.new_session(tenant, hash_key(key))
    await run_in_threadpool(record_session, s.rt.pool, session)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(
        response, request, SESSION_COOKIE, web.signer.session_cookie(session), max_age=int(web.signer.session_seconds)
    )
    return response


@router.post("/sign-out", response_model=None)
async def sign_out(request: Request, who: Visitor = Depends(visitor)) -> Response:
    await checked_form(request, who)
    session = web_state(request).signer.read_session(request.cookies.get(SESSION_COOKIE))
    if who.signed_in and session is not None:
        await run_in_threadpool(end_session, state(request).rt.pool, session)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _local(path: str) -> str:
    """Only a path on this site: never a redirect to another."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > 2000:
        return "/"
    return path
