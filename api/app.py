"""The HTTP API: `create_app(runtime)` builds a FastAPI app over the same search, cache and ingest
code the CLI uses. Tenants come from API keys; row-level security enforces them in PostgreSQL."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minutebook import __version__
from minutebook.api import problems, routes_ask, routes_notes, routes_search, web
from minutebook.api.deps import AppState
from minutebook.api.fairness import SharedTenantSlots, TenantSlots, default_request_limit, default_sql_limit
from minutebook.api.keys import KeyResolver
from minutebook.api.metrics import Metrics
from minutebook.api.ratelimit import SharedTokenBuckets
from minutebook.api.request_origin import RequestOrigin
from minutebook.api.runtime import Runtime
from minutebook.core.migrations import pending_count

DESCRIPTION = """Semantic search over meeting notes: what was decided, who owns what, what it costs.

Authenticate with `Authorization: Bearer <key>` (or `X-API-Key`); keys come from
`minutebook keys create --tenant NAME`. A server on 127.0.0.1 with no keys configured serves one
local tenant without keys; it answers only to its own address and the loopback names (plus
`MINUTEBOOK_ALLOWED_HOSTS`), and refuses keyless state-changing requests from other sites. Errors
are `application/problem+json`. The web pages are at `/`."""


class BodyLimit:
    """413 for bodies over the limit, whether announced (Content-Length) or streamed (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            # the server holds the client to the length it announced
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # no length announced (chunked): read it whole, up to the limit, before the app sees any
        # of it, so that a body over the limit is a 413 whatever the route would have done
        parts: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(parts)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then only the disconnect, for streaming responses

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body over {self.max_bytes:,} bytes"
        response = web.error_page(Request(scope), 413, detail, None) or problems.problem(413, detail)
        await response(scope, receive, send)


def create_app(rt: Runtime, *, keyless_tenant: str | None = None, shared_slots: bool | None = None) -> FastAPI:
    """`keyless_tenant`: serve requests without a key as this tenant while no key exists
    (only ever passed for loopback servers). `shared_slots`: count each tenant's requests in flight
    in the database, where every API node shares the count (two round trips a request: 2-4 ms p50
    on a busy 2-core machine), or in this process; unset: in the database when it is named
    (`DATABASE_URL`, which other nodes may use too), in the process for this machine's embedded
    server. The caller owns `rt` and closes it."""
    s = rt.settings
    if shared_slots is None:
        shared_slots = s.database_url is not None

    def slots(limit: int, scope: str) -> TenantSlots:
        return SharedTenantSlots(rt.pool, limit, scope=scope) if shared_slots else TenantSlots(limit)

    app = FastAPI(
        title="minutebook",
        version=__version__,
        description=DESCRIPTION,
        responses=problems.PROBLEM_RESPONSES,
    )
    metrics = Metrics()
    app.state.minutebook = AppState(
        rt=rt,
        keys=KeyResolver(rt.pool),
        buckets=SharedTokenBuckets(rt.pool, s.rate_per_second, s.rate_burst),
        metrics=metrics,
        keyless_tenant=keyless_tenant,
        requests=slots(s.tenant_max_concurrent or default_request_limit(s.pool_max_size), "requests"),
        sql=slots(s.sql_max_concurrent or default_sql_limit(s.pool_max_size), "sql"),
    )
    problems.install(app, page=web.error_page)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.observe_request(
            request.method, getattr(route, "path", "unmatched"), response.status_code, time.perf_counter() - started
        )
        return response

    app.add_middleware(BodyLimit, max_bytes=s.max_request_bytes)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Database reachable, migrations current, model loaded")
    def readyz() -> JSONResponse:
        checks: dict[str, Any] = {}
        if rt.supervisor is not None and rt.supervisor.status() != "ok":
            checks["database"] = rt.supervisor.status()
            checks["model"] = "ok" if rt.embedder.loaded else "not loaded"
            return JSONResponse({"ready": False, "checks": checks}, status_code=503, headers={"Retry-After": "1"})
        try:
            with rt.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
                checks["database"] = "ok"
                pending = pending_count(conn)
                checks["migrations"] = "ok" if pending == 0 else f"{pending} pending"
        except Exception as exc:  # readiness reports, it never raises
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["model"] = "ok" if rt.embedder.loaded else "not loaded"
        ready = all(v == "ok" for v in checks.values())
        if rt.supervisor is not None and rt.supervisor.restarts:
            checks["database_restarts"] = rt.supervisor.restarts
            checks["last_outage_seconds"] = round(rt.supervisor.last_outage_seconds or 0, 2)
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    def prometheus(request: Request) -> Response:
        """Open while the server is keyless on loopback; once keys exist the figures (which span
        every tenant) need `Authorization: Bearer $MINUTEBOOK_METRICS_TOKEN`."""
        state: AppState = app.state.minutebook
        if state.keys.keys_configured():
            if not s.metrics_token:
                raise problems.ApiProblem(403, "metrics span every tenant: set MINUTEBOOK_METRICS_TOKEN to read them")
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), s.metrics_token.encode()):
                raise problems.ApiProblem(
                    401, "metrics need the operator's token: Authorization: Bearer <MINUTEBOOK_METRICS_TOKEN>"
                )
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    app.include_router(routes_notes.router, prefix="/v1")
    app.include_router(routes_search.router, prefix="/v1")
    app.include_router(routes_ask.router, prefix="/v1")
    web.install(app)
    # outermost: a request from a rebound host or another site is refused before anything runs
    app.add_middleware(RequestOrigin, check_host=keyless_tenant is not None, allowed_hosts=s.allowed_hosts)
    return app


KEYLESS_ENV = "MINUTEBOOK_SERVE_KEYLESS_TENANT"


def app_from_environment() -> FastAPI:
    """The factory each `minutebook serve --workers N` process calls: its own runtime (pool,
    model) from the environment; the parent has already checked keys and migrations. The workers
    share their tenants' slots through the database, whichever database it is."""
    import os

    from minutebook.api.runtime import open_runtime
    from minutebook.core.settings import load_settings

    rt = open_runtime(load_settings(auto_migrate=False), supervise=True)
    rt.embedder.encode_one("warm up")
    return create_app(rt, keyless_tenant=os.environ.get(KEYLESS_ENV) or None, shared_slots=True)
