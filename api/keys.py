"""API keys: created and revoked by an operator (owner connection), resolved to a tenant by the app.

Only the sha256 of a key is stored; the key itself is shown once. The application role cannot
read the table: it may only ask which tenant a given hash belongs to (sql/006).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from minutebook.core.errors import ConfigError

KEY_PREFIX = "mbk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: int
    tenant: str
    prefix: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def create_key(conn: psycopg.Connection, tenant: str, label: str | None = None) -> tuple[int, str]:
    """A new key for `tenant`: returns its id and the key, which is not stored anywhere."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO api_keys (tenant_id, key_hash, prefix, label) VALUES (%s, %s, %s, %s) RETURNING id",
        (tenant, hash_key(key), key[: len(KEY_PREFIX) + 6], label),
    ).fetchone()
    assert row is not None
    return int(row[0]), key


def list_keys(conn: psycopg.Connection, tenant: str | None = None) -> list[KeyInfo]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT id, tenant_id AS tenant, prefix, label, created_at, revoked_at, last_used_at
               FROM api_keys WHERE %(tenant)s::text IS NULL OR tenant_id = %(tenant)s ORDER BY id""",
            {"tenant": tenant},
        ).fetchall()
    return [KeyInfo(**r) for r in rows]


def revoke_key(conn: psycopg.Connection, key_id: int) -> bool:
    row = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL RETURNING id", (key_id,)
    ).fetchone()
    return row is not None


class KeyResolver:
    """Key → tenant for the app, remembered for `ttl` seconds so a request costs no extra
    round trip; a revoked key stops working within that time."""

    def __init__(self, pool: ConnectionPool, *, ttl: float = 30.0) -> None:
        self.pool = pool
        self.ttl = ttl
        self._known: dict[str, tuple[str | None, float]] = {}
        self._configured: tuple[bool, float] | None = None
        self._lock = threading.Lock()

    def tenant_for(self, key: str) -> str | None:
        return self.tenant_for_digest(hash_key(key))

    def tenant_for_digest(self, digest: str) -> str | None:
        """A web session holds the key's hash, never the key: revoking the key ends the session."""
        now = time.monotonic()
        with self._lock:
            known = self._known.get(digest)
        if known and known[1] > now:
            return known[0]
        with self.pool.connection() as conn:
            row = conn.execute("SELECT minutebook_tenant_for_key(%s)", (digest,)).fetchone()
        tenant = row[0] if row else None
        with self._lock:
            if len(self._known) > 10_000:  # bounded: guessed keys must not grow memory
                self._known.clear()
            self._known[digest] = (tenant, now + self.ttl)
        return tenant

    def keys_configured(self) -> bool:
        """Whether any live key exists. Only "yes" is remembered: the first key must close
        keyless access at once, not `ttl` seconds later."""
        now = time.monotonic()
        if self._configured and self._configured[1] > now:
            return self._configured[0]
        with self.pool.connection() as conn:
            row = conn.execute("SELECT minutebook_keys_configured()").fetchone()
        configured = bool(row and row[0])
        self._configured = (True, now + self.ttl) if configured else None
        return configured


def require_keys_off_loopback(host: str, resolver: KeyResolver) -> None:
    """Serving beyond this machine without keys would hand every note to anyone who asks."""
    if not is_loopback(host) and not resolver.keys_configured():
        raise ConfigError(
            f"refusing to serve on {host} without API keys: create one with "
            "`minutebook keys create --tenant NAME`, or serve on 127.0.0.1"
        )


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
