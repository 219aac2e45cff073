"""Per-tenant token buckets: `rate` requests per second on average, `burst` at once.

`SharedTokenBuckets` keeps them in PostgreSQL (sql/021), so every API node draws on one bucket
per tenant; `TokenBuckets` keeps them in the process (what a node falls back to when the
database cannot be asked, and what tests of the arithmetic use)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

log = logging.getLogger("minutebook.api")


class TokenBuckets:
    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, tenant: str) -> float:
        """0 when the request may go ahead; otherwise the seconds to wait before retrying."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(tenant, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[tenant] = (tokens - 1.0, now)
                return 0.0
            self._buckets[tenant] = (tokens, now)
            return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))


class SharedTokenBuckets:
    """Token buckets in the database: one limit per tenant however many API nodes serve it (one
    round trip a request; bench/scale.py measures it). When the database cannot be asked, the
    node limits on its own until it can."""

    def __init__(self, pool: ConnectionPool, rate: float, burst: int) -> None:
        self.pool = pool
        self.rate = rate
        self.burst = float(burst)
        self._local = TokenBuckets(rate, burst)

    def take(self, bucket: str) -> float:
        """0 when the request may go ahead; otherwise the seconds to wait before retrying."""
        try:
            with self.pool.connection() as conn:
                row = conn.execute(
                    "SELECT minutebook_take_token(%s, %s, %s)", (bucket, self.rate, self.burst)
                ).fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("shared rate limit unavailable, limiting in this process: %s", exc)
            return self._local.take(bucket)
        return float(row[0]) if row else 0.0

    retry_after = staticmethod(TokenBuckets.retry_after)
