"""A fair share of the database per tenant: requests in flight, and SQL-mode statements.

One tenant's burst of slow requests (say fourteen `SQL SELECT pg_sleep(2)`) must not take every
pooled connection and make the other tenants wait. Each tenant may hold at most `limit`
requests at once; the rest wait (without a thread: the event loop polls) and, past `wait`
seconds, get a 429. SQL-mode statements have a smaller share and never wait.

`SharedTenantSlots` keeps the count in PostgreSQL (sql/026), so every API node draws on one
limit per tenant; `TenantSlots` keeps it in the process (one `serve` on this machine's embedded
server, where it is 2-4 ms a request cheaper, and what a node falls back to when the database
cannot be asked).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.concurrency import run_in_threadpool

from minutebook.api.problems import ApiProblem

log = logging.getLogger("minutebook.api")

# How long a node's slot outlives the node: a killed `serve` process's requests count against their
# tenants for at most this long after it died. A live node renews what it holds every third of
# it (one statement for all its slots), so a streamed answer of any length keeps its slot, and two
# missed renewals in a row (a database blip, a stalled process) still do not lose it.
SLOT_LEASE_SECONDS = 30.0


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

    async def _take_soon(self, tenant: str) -> bool:
        """`try_take` for the event loop: here at once (it asks nothing of the database)."""
        return self.try_take(tenant)

    async def _give_back_soon(self, tenant: str) -> None:
        self.give_back(tenant)

    @asynccontextmanager
    async def waiting(self, tenant: str, what: str) -> AsyncIterator[None]:
        """Hold a slot for the block, waiting up to `wait` seconds for one; 429 after."""
        deadline = time.monotonic() + self.wait
        pause = 0.005
        while not await self._take_soon(tenant):
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
            await self._give_back_soon(tenant)

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


class SharedTenantSlots(TenantSlots):
    """Tenant slots in the database: one limit per tenant however many API nodes serve it. A slot
    is a lease (sql/026): one round trip to take it, one to give it back (bench/scale.py measures
    them), renewed by a thread of the node while it holds any. When the database cannot be asked,
    the node counts on its own, as `TenantSlots` does, until it can.

    `in_flight` is this node's share: the slots it holds."""

    def __init__(
        self, pool: ConnectionPool, limit: int, *, scope: str, wait: float = 30.0, lease: float = SLOT_LEASE_SECONDS
    ) -> None:
        super().__init__(limit, wait=wait)  # the count kept in the process while the database cannot be asked
        self.pool = pool
        self.scope = scope  # what is limited ('requests', 'sql'): one count per tenant and scope
        self.lease = lease
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._leases: dict[str, list[int | None]] = {}  # tenant -> its slots here (None: counted in the process)
        self._kept: dict[str, int] = {}  # tenant -> give-backs that keep their lease for held work
        self._mine = threading.Lock()
        self._renewer: threading.Thread | None = None

    def try_take(self, tenant: str) -> bool:
        return self._take(tenant, self.limit)

    def hold(self, tenant: str) -> None:
        """Count one more against the tenant, past its limit if need be (see `TenantSlots.hold`).
        The held work is a request's, whose own give-back follows: that give-back keeps its lease
        for the work instead, so holding needs no round trip (it runs on the event loop)."""
        with self._mine:
            kept = self._kept.get(tenant, 0)
            if kept < len(self._leases.get(tenant, ())):
                self._kept[tenant] = kept + 1
                return
        self._take(tenant, None)  # no slot of the tenant's here to keep: one more, past the limit

    def give_back(self, tenant: str) -> None:
        with self._mine:
            kept = self._kept.pop(tenant, 0)
            if kept:
                if kept > 1:
                    self._kept[tenant] = kept - 1
                return
            leases = self._leases.get(tenant)
            if not leases:
                return
            lease = leases.pop()
            if not leases:
                del self._leases[tenant]
        if lease is None:
            super().give_back(tenant)
            return
        try:
            with self.pool.connection() as conn:
                conn.execute("SELECT minutebook_give_slot(%s)", (lease,))
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("a tenant slot could not be given back; it lapses with its lease: %s", exc)

    def in_flight(self, tenant: str) -> int:
        with self._mine:
            return len(self._leases.get(tenant, ()))

    async def _take_soon(self, tenant: str) -> bool:
        return await run_in_threadpool(self.try_take, tenant)  # a round trip: off the event loop

    async def _give_back_soon(self, tenant: str) -> None:
        with anyio.CancelScope(shield=True):  # a request cancelled midway still gives its slot back
            await run_in_threadpool(self.give_back, tenant)

    def _take(self, tenant: str, limit: int | None) -> bool:
        """A slot for the tenant (`limit` None: past the limit), in the database if it can be asked."""
        lease: int | None
        try:
            with self.pool.connection() as conn:
                row = conn.execute(
                    "SELECT minutebook_take_slot(%s, %s, %s, %s, %s)",
                    (self.scope, tenant, limit, self.holder, self.lease),
                ).fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("shared tenant slots unavailable, counting in this process: %s", exc)
            if limit is None:
                super().hold(tenant)
            elif not super().try_take(tenant):
                return False
            lease = None
        else:
            lease = row[0] if row else None
            if lease is None:
                return False
        with self._mine:
            self._leases.setdefault(tenant, []).append(lease)
            if lease is not None and self._renewer is None:
                self._renewer = threading.Thread(target=self._renew, name="minutebook-slot-leases", daemon=True)
                self._renewer.start()
        return True

    def _renew(self) -> None:
        """Every third of a lease, push back the leases this node holds; end when it holds none."""
        while True:
            time.sleep(self.lease / 3)
            with self._mine:
                leases = [lease for held in self._leases.values() for lease in held if lease is not None]
                if not leases:
                    self._renewer = None
                    return
            try:
                with self.pool.connection() as conn:
                    conn.execute("SELECT minutebook_renew_slots(%s, %s)", (leases, self.lease))
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("tenant slot leases not renewed (they lapse unless the next try works): %s", exc)


def default_request_limit(pool_size: int) -> int:
    """Three quarters of the pool: a busy tenant always leaves connections for the others."""
    return max(1, pool_size * 3 // 4)


def default_sql_limit(pool_size: int) -> int:
    return max(1, pool_size // 4)
