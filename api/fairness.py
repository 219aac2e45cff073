"""A fair share of the database per tenant: requests in flight, and SQL-mode statements.

One tenant's burst of slow requests (say fourteen `SQL SELECT pg_sleep(2)`) must not take every
pooled connection and make the other tenants wait. Each tenant may hold at most `limit`
requests at once; the rest wait (without a thread: the event loop polls) and, past `wait`
seconds, get a 429. SQL-mode statements have a smaller share and never wait.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from minutebook.api.problems import ApiProblem


class TenantSlots:
    def __init__(self, limit: int, *, wait: float = 30.0) -> None:
        self.limit = limit
        self.wait = wait
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def try_take(self, tenant: str) -> bool:
        with self._lock:
            held = self._held.get(tenant, 0)
            if held >= self.limit:
                return False
            self._held[tenant] = held + 1
            return True

    def hold(self, tenant: str) -> None:
        """Count one more against the tenant, past its limit if need be: for work that outlives
        its request (a streamed answer whose client left), which the request's slot covered."""
        with self._lock:
            self._held[tenant] = self._held.get(tenant, 0) + 1

    def give_back(self, tenant: str) -> None:
        with self._lock:
            left = self._held.get(tenant, 1) - 1
            if left > 0:
                self._held[tenant] = left
            else:
                self._held.pop(tenant, None)

    def in_flight(self, tenant: str) -> int:
        with self._lock:
            return self._held.get(tenant, 0)

    @asynccontextmanager
    async def waiting(self, tenant: str, what: str) -> AsyncIterator[None]:
        """Hold a slot for the block, waiting up to `wait` seconds for one; 429 after."""
        deadline = time.monotonic() + self.wait
        pause = 0.005
        while not self.try_take(tenant):
            if time.monotonic() >= deadline:
                raise ApiProblem(
                    429,
                    f"this tenant already has {self.limit} {what} in flight; retry when one has finished",
                    headers={"Retry-After": "1"},
                )
            await asyncio.sleep(pause)
            pause = min(0.05, pause * 2)
        try:
            yield
        finally:
            self.give_back(tenant)

    @contextmanager
    def at_once(self, tenant: str, what: str) -> Iterator[None]:
        """Hold a slot for the block, or 429 now if the tenant has none left."""
        if not self.try_take(tenant):
            raise ApiProblem(
                429,
                f"this tenant already runs {self.limit} {what} at once; retry when one has finished",
                headers={"Retry-After": "1"},
            )
        try:
            yield
        finally:
            self.give_back(tenant)


def default_request_limit(pool_size: int) -> int:
    """Three quarters of the pool: a busy tenant always leaves connections for the others."""
    return max(1, pool_size * 3 // 4)


def default_sql_limit(pool_size: int) -> int:
    return max(1, pool_size // 4)
