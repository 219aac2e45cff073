"""Web sign-in: an API key is exchanged once for a signed, expiring session cookie; every
state-changing form carries a CSRF token bound to the browser.

The cookie holds the tenant, the sha256 of the key (never the key), so revoking the key ends
the session, and a random session id whose row in `web_sessions` (sql/016) sign-out deletes, so a
copied cookie ends with the browser's own. Cookies are HttpOnly and SameSite=Strict; the CSRF
token is an HMAC of a random per-browser nonce kept in its own cookie, so a page on another site
can neither read nor forge it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg_pool import ConnectionPool
from starlette.requests import Request
from starlette.responses import Response

from minutebook.core.database import tenant_transaction
from minutebook.core.errors import ConfigError

SESSION_COOKIE = "mb_session"
NONCE_COOKIE = "mb_nonce"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_ID_BYTES = 18  # 144 random bits: a session id cannot be guessed, and the cookie is signed too


def load_secret(configured: str | None, home: Path) -> bytes:
    """The configured secret, else one kept in `home/web-secret` (made once, readable by the
    owner only) so that restarts and sibling workers accept each other's cookies."""
    if configured:
        return configured.encode()
    path = home / "web-secret"
    if not path.exists():
        _publish_secret(path)
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except (ValueError, OSError):
        secret = b""
    if len(secret) < 16:
        raise ConfigError(f"{path} is damaged or unreadable: delete it (signed-in browsers sign in again)")
    return secret


def _publish_secret(path: Path) -> None:
    """Write a new secret whole under a private name, then link it into place: workers starting
    together all end up reading the one that got there first, never a half-written file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".web-secret.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_bytes(32).hex())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another worker's secret is in place: it is the one
        finally:
            draft.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot keep the web secret at {path}: {exc.strerror}; set MINUTEBOOK_WEB_SECRET") from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    tenant: str
    key_digest: str
    expires: int
    id: str  # names the session's row in web_sessions; sign-out deletes it


class Signer:
    def __init__(self, secret: bytes, *, session_seconds: float) -> None:
        self._secret = secret
        self.session_seconds = session_seconds

    def _mac(self, purpose: str, payload: str) -> str:
        return _b64(hmac.new(self._secret, f"{purpose}\x1f{payload}".encode(), hashlib.sha256).digest())

    def new_session(self, tenant: str, key_digest: str, *, now: float | None = None) -> Session:
        expires = int((now or time.time()) + self.session_seconds)
        return Session(tenant, key_digest, expires, secrets.token_urlsafe(SESSION_ID_BYTES))

    def session_cookie(self, session: Session) -> str:
        fields = {"t": session.tenant, "k": session.key_digest, "e": session.expires, "s": session.id}
        payload = _b64(json.dumps(fields).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def read_session(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged, damaged or expired."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 1000:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            found = Session(str(data["t"]), str(data["k"]), int(data["e"]), str(data["s"]))
        except (ValueError, KeyError, TypeError):
            return None
        return found if found.expires > (now or time.time()) else None

    def csrf_token(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        return bool(nonce and token) and hmac.compare_digest(str(token), self.csrf_token(str(nonce)))


def browser_nonce(request: Request) -> tuple[str, bool]:
    """This browser's CSRF nonce, and whether it is new (to be set on the response)."""
    nonce = request.cookies.get(NONCE_COOKIE)
    if nonce and 16 <= len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum():
        return nonce, False
    return secrets.token_urlsafe(24), True


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


# -- the server's record of sessions (sql/016): one row per sign-in, under the tenant's RLS


def _id_hash(session: Session) -> str:
    return hashlib.sha256(session.id.encode()).hexdigest()


def record_session(pool: ConnectionPool, session: Session) -> None:
    """A sign-in: its row, and the tenant's expired rows gone."""
    with tenant_transaction(pool, session.tenant) as conn:
        conn.execute("DELETE FROM web_sessions WHERE tenant_id = %s AND expires_at < now()", (session.tenant,))
        conn.execute(
            "INSERT INTO web_sessions (tenant_id, id_hash, expires_at) VALUES (%s, %s, to_timestamp(%s))",
            (session.tenant, _id_hash(session), session.expires),
        )


def session_recorded(pool: ConnectionPool, session: Session) -> bool:
    """Whether the session is still signed in (its row exists and has not expired)."""
    with tenant_transaction(pool, session.tenant) as conn:
        row = conn.execute(
            "SELECT 1 FROM web_sessions WHERE tenant_id = %s AND id_hash = %s AND expires_at > now()",
            (session.tenant, _id_hash(session)),
        ).fetchone()
    return row is not None


def end_session(pool: ConnectionPool, session: Session) -> None:
    """Sign-out: every copy of the cookie stops working."""
    with tenant_transaction(pool, session.tenant) as conn:
        conn.execute(
            "DELETE FROM web_sessions WHERE tenant_id = %s AND id_hash = %s", (session.tenant, _id_hash(session))
        )
