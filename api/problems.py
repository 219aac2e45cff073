"""One error shape for the whole API: RFC 9457 problem details (application/problem+json).

Known failures get a status that says whose fault it is (4xx: the request; 503: the database,
try again; 502: the LLM upstream) and a message a person can act on. No stack trace ever leaves
the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from minutebook.core.errors import MinutebookError

log = logging.getLogger("minutebook.api")

PROBLEM = "application/problem+json"
PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["title", "status", "detail"],
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": title, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}
    for status, title in (
        (400, "The request cannot be answered as asked"),
        (401, "Missing or unknown API key"),
        (413, "Request body too large"),
        (422, "Invalid parameters or body"),
        (429, "Rate limit reached; see Retry-After"),
        (503, "The database is unavailable; retry"),
    )
}


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    502: "LLM unavailable",
    503: "Service unavailable",
}


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return json_problem(status, detail, headers=headers, **extra)


def json_problem(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


ErrorPage = Callable[[Request, int, str, dict[str, str] | None], Response | None]


def install(app: FastAPI, page: ErrorPage | None = None) -> None:
    """`page`: renders the error as HTML for a request to a web page (it returns None for the
    API's paths, which keep problem+json)."""

    def respond(
        status: int, detail: str, *, request: Request, headers: dict[str, str] | None = None, **extra: Any
    ) -> Response:
        shown = page(request, status, detail, headers) if page is not None else None
        return shown if shown is not None else json_problem(status, detail, headers=headers, **extra)

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return respond(exc.status, exc.detail, headers=exc.headers, request=request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return respond(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None), request=request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")} for e in exc.errors()
        ]
        detail = "; ".join(f"{e['where']}: {e['problem']}" for e in errors) or "invalid request"
        return respond(422, detail, errors=errors, request=request)

    @app.exception_handler(MinutebookError)
    async def _known(request: Request, exc: MinutebookError) -> Response:
        status = exc.status_code  # each error says whose fault it is (core/errors.py)
        headers = {"Retry-After": "2"} if status in (502, 503) else None
        return respond(status, str(exc), headers=headers, request=request)

    @app.exception_handler(psycopg.DataError)
    async def _bad_value(request: Request, exc: psycopg.DataError) -> Response:
        # values the database cannot hold (NUL characters, out-of-range numbers) came from the request
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        return respond(400, f"the request holds a value that cannot be stored or searched: {reason}", request=request)

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(request: Request, exc: psycopg.OperationalError) -> Response:
        log.warning("database unavailable: %s", exc)
        return respond(503, "the database is unavailable; retry shortly", headers={"Retry-After": "2"}, request=request)

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> Response:
        return respond(
            503, "the database is busy or unavailable; retry shortly", headers={"Retry-After": "2"}, request=request
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return respond(500, "internal error; it has been logged", request=request)
