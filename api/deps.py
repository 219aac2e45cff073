"""What every /v1 request needs: who is asking (API key → tenant) and whether they may ask now."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NoReturn

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from minutebook.api.fairness import TenantSlots
from minutebook.api.keys import KeyResolver
from minutebook.api.metrics import Metrics
from minutebook.api.problems import ApiProblem
from minutebook.api.ratelimit import SharedTokenBuckets, TokenBuckets
from minutebook.api.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An API key from `minutebook keys create`.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key, as a header.")


@dataclass
class AppState:
    rt: Runtime
    keys: KeyResolver
    buckets: TokenBuckets | SharedTokenBuckets
    metrics: Metrics
    keyless_tenant: str | None  # loopback without keys: the one local tenant
    requests: TenantSlots  # requests in flight per tenant
    sql: TenantSlots  # SQL-mode statements running per tenant


def state(request: Request) -> AppState:
    return request.app.state.minutebook


def tenant(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    header_key: str | None = Depends(_header),
) -> str:
    s = state(request)
    key = (bearer.credentials if bearer else None) or header_key
    if key:
        found = s.keys.tenant_for(key)
        if found is None:
            _refuse(request, s, "unknown or revoked API key")
    elif s.keyless_tenant and not s.keys.keys_configured():
        found = s.keyless_tenant
    else:
        _refuse(request, s, "an API key is required: Authorization: Bearer <key>")
    wait = s.buckets.take(found)
    if wait > 0:
        raise ApiProblem(
            429,
            f"rate limit of {s.buckets.rate:g} requests/s (burst {s.buckets.burst:g}) reached for this tenant",
            headers={"Retry-After": TokenBuckets.retry_after(wait)},
        )
    return found


def _refuse(request: Request, s: AppState, why: str) -> NoReturn:
    """401, or 429 once one address keeps knocking without a valid key (key guessing costs a
    database round trip each time)."""
    address = request.client.host if request.client else "unknown"
    wait = s.buckets.take(f"address\x1f{address}")
    if wait > 0:
        raise ApiProblem(
            429,
            "too many unauthenticated requests from this address",
            headers={"Retry-After": TokenBuckets.retry_after(wait)},
        )
    raise ApiProblem(401, why, headers={"WWW-Authenticate": "Bearer"})


async def tenant_slot(request: Request, found: str = Depends(tenant)) -> AsyncIterator[str]:
    """The caller's tenant, holding one of its request slots for the request's lifetime."""
    async with state(request).requests.waiting(found, "requests"):
        yield found
