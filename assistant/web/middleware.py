"""ASGI middleware around the whole web app: what an unauthenticated visitor can reach, and how much.

From the outside in (see `server.build_app`):

- `ForwardedHint` says once in the log when requests carry X-Forwarded-For from a proxy that is not
  trusted (everyone behind it then shares one address, so one rate limit).
- uvicorn's `ProxyHeadersMiddleware`, only when PHYSIO_TRUSTED_PROXIES is set: the visitor's
  address from X-Forwarded-For, believed from those proxies and no one else.
- `HeaderLimit`: request heads over 32 KB are refused (431); the HTTP parser caps what it buffers.
- `BodyLimit`: request bodies over 64 KB are refused (413).
- `SecurityHeaders`: nosniff, referrer policy, framing.
- `ReviewGate`: nothing under /review without a signed-in clinician.
- `RouteAllowlist`: only the routes the two pages and gradio_client use answer; gradio's other
  routes (uploads, file serving, monitoring, OpenAPI, MCP...) are 404, and a call naming a
  function the page does not have is refused before gradio sees it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.web.auth import SESSION_COOKIE

log = logging.getLogger("physio.web")

REVIEW = "/review"
OPEN_REVIEW_PATHS = {f"{REVIEW}/login", f"{REVIEW}/logout"}
MAX_BODY_BYTES = 64 * 1024
MAX_HEADER_BYTES = 32 * 1024  # the HTTP parser's cap on a request's head (h11's max incomplete event size)


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def cookie(scope: Scope, name: str) -> str | None:
    for part in header(scope, b"cookie").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def is_review(path: str) -> bool:
    return path == REVIEW or path.startswith(REVIEW + "/")


def _path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


async def respond(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    await response(scope, receive, send)


class ReviewGate:
    """Nothing under /review without a signed-in clinician, whatever the route (ASGI, before routing)."""

    def __init__(self, app: ASGIApp, auth: Any, disabled_page: str):
        self.app = app
        self.auth = auth
        self.disabled_page = disabled_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = _path(scope)
        root = scope.get("root_path", "")
        if not is_review(path) or path in OPEN_REVIEW_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            if self.auth.user_for(cookie(scope, SESSION_COOKIE)) is None:
                await send({"type": "websocket.close", "code": 4401})
                return
            await self.app(scope, receive, send)
            return
        if not self.auth.enabled:
            await respond(scope, receive, send, HTMLResponse(self.disabled_page, status_code=503))
            return
        if self.auth.user_for(cookie(scope, SESSION_COOKIE)) is None:
            if scope["method"] in ("GET", "HEAD") and path in (REVIEW, REVIEW + "/"):
                response: Response = RedirectResponse(f"{root}{REVIEW}/login", status_code=303)
            else:
                response = JSONResponse({"detail": "Sign in at /review/login first."}, status_code=401)
            await respond(scope, receive, send, response)
            return
        if path == REVIEW:
            await respond(scope, receive, send, RedirectResponse(f"{root}{REVIEW}/", status_code=307))
            return
        await self.app(scope, receive, send)


class HeaderLimit:
    """Refuse a request whose headers (cookies included) add up to more than `limit` bytes (431).

    The HTTP parser (h11) already refuses a head that arrives in pieces past the limit; a large head
    that arrives in one read can still get through it, and stops here, before any route sees it.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_HEADER_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and sum(len(k) + len(v) for k, v in scope.get("headers", [])) > self.limit
        ):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1009})
                return
            await respond(scope, receive, send, JSONResponse({"detail": "Request headers too large."}, status_code=431))
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413), whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.limit:
            await respond(scope, receive, send, JSONResponse({"detail": "Request too large."}, status_code=413))
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, self.limit)
        if body is None:
            await respond(scope, receive, send, JSONResponse({"detail": "Request too large."}, status_code=413))
            return
        await self.app(scope, replay(body, receive), send)


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None past `limit` bytes (or when the client went away)."""
    body = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > limit:
            return None
    return bytes(body)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over `body` once, then passes later messages (disconnects) through."""
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


class SecurityHeaders:
    """nosniff, referrer policy, framing: the chat may be embedded where the clinic allows; /review never."""

    def __init__(self, app: ASGIApp, ancestors: str):
        self.app = app
        self.ancestors = ancestors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        review = is_review(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"x-frame-options", b"content-security-policy")
                ]
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if review:
                    headers += [
                        (b"content-security-policy", b"frame-ancestors 'none'"),
                        (b"x-frame-options", b"DENY"),
                        (b"cache-control", b"no-store"),
                    ]
                else:
                    headers.append((b"content-security-policy", f"frame-ancestors {self.ancestors}".encode()))
                    if self.ancestors == "'self'":
                        headers.append((b"x-frame-options", b"SAMEORIGIN"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# ---- which routes answer at all ----------------------------------------------------------------

# The app's own routes (exact paths).
APP_ROUTES: dict[str, set[str]] = {
    "/healthz": {"GET"},
    f"{REVIEW}/login": {"GET", "POST"},
    f"{REVIEW}/logout": {"GET"},
    f"{REVIEW}/export.jsonl": {"GET"},
}
# gradio's routes that a page in a browser, or gradio_client, needs; relative to where the page is mounted.
GRADIO_GET = {
    "",
    "/",
    "/config",
    "/config/",
    "/theme.css",
    "/favicon.ico",
    "/robots.txt",
    "/gradio_api/info",
    "/gradio_api/info/",
    "/gradio_api/queue/data",
}
GRADIO_GET_PREFIXES = ("/assets/", "/static/", "/gradio_api/heartbeat/")
GRADIO_CALLS = {
    "/gradio_api/queue/join": True,
    "/gradio_api/run/predict": False,
}  # route -> the functions it may run are queued
GRADIO_POST = {*GRADIO_CALLS, "/gradio_api/cancel", "/gradio_api/reset"}


def _not_found() -> Response:
    return JSONResponse({"detail": "Not Found"}, status_code=404)


class RouteAllowlist:
    """Deny by default: only listed routes reach the app, and a call must name a function the page has.

    `pages` maps where each gradio page is mounted ("" for the chat, "/review") to its `gr.Blocks`.
    A call through the queue must name a queued function, a direct call (`run/predict`) one that
    runs without the queue (so the queue's concurrency limit cannot be stepped around), and an
    unknown function number is a 404 rather than gradio's 500 with a traceback in the log.
    """

    def __init__(self, app: ASGIApp, pages: Mapping[str, Any]):
        self.app = app
        self.pages = dict(pages)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # neither page uses one
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = _path(scope), scope["method"]
        method = "GET" if method == "HEAD" else method
        if path in APP_ROUTES:
            if method in APP_ROUTES[path]:
                await self.app(scope, receive, send)
            else:
                await respond(scope, receive, send, _not_found())
            return
        prefix = REVIEW if is_review(path) and REVIEW in self.pages else ""
        page = self.pages.get(prefix)
        rel = path[len(prefix) :]
        if page is None:
            await respond(scope, receive, send, _not_found())
            return
        if method == "GET" and (rel in GRADIO_GET or rel.startswith(GRADIO_GET_PREFIXES)):
            if rel.startswith("/gradio_api/info") and b"all_endpoints" in scope.get("query_string", b""):
                await respond(scope, receive, send, _not_found())  # the hidden handlers of the page are not an API
                return
            await self.app(scope, receive, send)
            return
        if method == "POST" and rel in GRADIO_POST:
            if rel not in GRADIO_CALLS:
                await self.app(scope, receive, send)
                return
            body = await read_body(receive, MAX_BODY_BYTES)
            if body is None:
                await respond(scope, receive, send, JSONResponse({"detail": "Request too large."}, status_code=413))
                return
            problem = _call_problem(page, body, queued=GRADIO_CALLS[rel])
            if problem:
                await respond(scope, receive, send, JSONResponse({"detail": problem}, status_code=404))
                return
            await self.app(scope, replay(body, receive), send)
            return
        await respond(scope, receive, send, _not_found())


def _call_problem(page: Any, body: bytes, *, queued: bool) -> str:
    """Why this call may not run (an empty string when it may); malformed bodies are left to gradio."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict) or "fn_index" not in data:
        return ""
    index = data["fn_index"]
    if isinstance(index, bool) or not isinstance(index, int | str):
        return ""
    try:
        fn = page.fns.get(int(index))
    except ValueError:
        return ""  # gradio answers 422 for a non-number
    if fn is None:
        return "No such function."
    if bool(getattr(fn, "queue", True)) != queued:
        return "No such function on this route."
    return ""


# ---- proxies -----------------------------------------------------------------------------------


def networks(items: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in items]


class ForwardedHint:
    """Log once per peer when X-Forwarded-For arrives from a proxy that PHYSIO_TRUSTED_PROXIES does not list.

    The header is ignored then (anyone can write it), which is right; but if that peer *is* the
    clinic's own proxy, every visitor shares its address and so one rate limit: the log says what to set.
    """

    def __init__(self, app: ASGIApp, trusted: Iterable[str] = ()):
        self.app = app
        self.trusted = networks(trusted)
        self._told: set[str] = set()

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and len(self._told) < 16:
            client = scope.get("client")
            host = client[0] if client else ""
            if host and host not in self._told and header(scope, b"x-forwarded-for") and not self._is_trusted(host):
                self._told.add(host)
                log.warning(
                    "X-Forwarded-For from %s is ignored: that address is not in PHYSIO_TRUSTED_PROXIES. If it is "
                    "your own "
                    "proxy, every visitor behind it now shares one rate limit; set PHYSIO_TRUSTED_PROXIES=%s",
                    host,
                    host,
                )
        await self.app(scope, receive, send)
