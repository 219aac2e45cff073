"""Which browsers' requests the server acts on (issue 23, item 4).

A server on loopback with no keys trusts whoever reaches it, and every web page on the machine
can reach it: a page on another site may send simple cross-site requests (a no-cors form POST)
and, through DNS rebinding (its own name resolving to 127.0.0.1), read the answers. So:

* **Host**: a loopback server answers only to its own address, the loopback names and
  `MINUTEBOOK_ALLOWED_HOSTS`; any server does once that setting is given. Anything else is a
  421 problem: a rebound page names its own host.
* **Origin**: a state-changing request (POST, PUT, PATCH, DELETE) that carries no API key is
  refused when the browser says it came from another origin (`Sec-Fetch-Site` other than
  same-origin, or, from browsers that do not send it, an `Origin` that is not this server's).
  A request with a key carries no ambient credential, and a browser cannot add one to a
  cross-site request without a CORS preflight, which this server never grants. Clients other
  than browsers send neither header and are not affected; the pages' CSRF tokens stay.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from minutebook.api import problems, web

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# what a browser says of a request from this very origin, or one the user made (typed, bookmarked);
# "same-site" is refused too: another port on localhost is the same site
OWN_FETCH_SITES = frozenset({"same-origin", "none"})
KEY_HEADERS = (b"authorization", b"x-api-key")
DEFAULT_PORTS = {"http": 80, "https": 443}


def split_host(host: str) -> tuple[str, int | None] | None:
    """("name", port) of a Host header or an origin's netloc; None when it is not one."""
    name, sep, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep:
        name, port = host, ""
    elif name.count(":") and not name.startswith("["):
        return None  # an IPv6 address must be bracketed
    if not name or (port and not port.isdigit()) or len(port) > 5:
        return None
    return name.lower(), int(port) if port else None


class RequestOrigin:
    """ASGI middleware: the Host and Origin rules above. `check_host`: refuse unknown Host
    headers (loopback servers, or wherever `allowed_hosts` is given)."""

    def __init__(self, app: ASGIApp, *, check_host: bool, allowed_hosts: tuple[str, ...] = ()) -> None:
        self.app = app
        self.check_host = check_host or bool(allowed_hosts)
        self.allowed = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if self.check_host and not self.host_allowed(host, scope.get("server")):
            shown = host[:100] or "(none)"
            response = problems.json_problem(
                421,
                f"this server does not answer to the host {shown!r}: open it as http://127.0.0.1 or "
                "http://localhost, or add the name to MINUTEBOOK_ALLOWED_HOSTS",
                title="Misdirected request",
            )
            await response(scope, receive, send)
            return
        if scope["method"] in STATE_CHANGING and not any(headers.get(h) for h in KEY_HEADERS):
            why = cross_origin(headers, host, self.allowed)
            if why is not None:
                detail = f"refused a state-changing request from another site ({why})"
                response = web.error_page(Request(scope), 403, detail, None) or problems.json_problem(
                    403, detail, title="Forbidden"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def host_allowed(self, host: str, server: tuple[str, int | None] | list[object] | None) -> bool:
        parsed = split_host(host)
        if parsed is None:
            return False
        name, port = parsed
        if name in self.allowed or host.lower() in self.allowed:
            return True
        own = set(LOOPBACK_NAMES)
        served_port = None
        if server:
            served = str(server[0]).lower()
            own.add(f"[{served}]" if ":" in served else served)
            served_port = server[1]
        return name in own and (port is None or port == served_port)


def cross_origin(headers: dict[bytes, bytes], host: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """Why a browser's request came from another origin, or None when it did not (or when the
    client is no browser and says nothing). An origin on an allowed host is this server's own
    behind a proxy that passes another Host."""
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None:  # set by the browser itself; pages cannot forge it
        value = fetch_site.decode("latin-1").strip().lower()
        return None if value in OWN_FETCH_SITES else f"Sec-Fetch-Site: {value[:40]}"
    origin = headers.get(b"origin")
    if origin is None:
        return None
    text = origin.decode("latin-1").strip()
    parts = urlsplit(text.lower())
    theirs = split_host(parts.netloc) if parts.scheme in DEFAULT_PORTS else None
    ours = split_host(host)
    if theirs is None or ours is None:
        return f"Origin: {text[:100]}"  # "null" (a sandboxed frame, a file) included
    if theirs[0] in allowed or parts.netloc in allowed:
        return None
    # a Host without a port is the default one of the scheme the browser used (which a proxy
    # that ends TLS does not pass on), so only the name and an explicit port are compared
    their_port = theirs[1] or DEFAULT_PORTS[parts.scheme]
    if theirs[0] != ours[0] or their_port != (ours[1] or DEFAULT_PORTS[parts.scheme]):
        return f"Origin: {text[:100]}"
    return None
