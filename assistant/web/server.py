"""The web server: patient chat at `/`, clinician review at `/review`, health at `/healthz` (Contract 2).

How `/review` is protected: `ReviewGate`, an ASGI middleware around the whole application, sees
every request before routing. Any path under `/review` other than the login and logout pages
needs a valid signed session cookie, or it gets a redirect to the login page (the page itself) or
401 (everything else: gradio's config, `/gradio_api/*` endpoints, queue, uploads and file routes,
the JSONL export). The review app also gets the same check as gradio's `auth_dependency`, and each
review handler checks the user again. Without PHYSIO_REVIEW_PASSWORD_HASH the review app is not
mounted at all and every `/review` path explains how to switch it on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.settings import Settings
from assistant.web.auth import HOW_TO_ENABLE, SESSION_COOKIE, SESSION_SECONDS, ChatLimiter, ReviewAuth
from assistant.web.chat import build_chat
from assistant.web.render import e
from assistant.web.review import build_review

log = logging.getLogger("physio.web")

REVIEW = "/review"
OPEN_REVIEW_PATHS = {f"{REVIEW}/login", f"{REVIEW}/logout"}
MAX_BODY_BYTES = 64 * 1024
FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]


def _static(name: str) -> str:
    return (resources.files("assistant.web") / "static" / name).read_text(encoding="utf-8")


def _head(css: str, *, meta: bool = False) -> str:
    # in <head> rather than `css=`: gradio scopes `css=` rules under its container, which breaks
    # rules for the page frame inside media queries (phone layout)
    return (_static("head.html") if meta else "") + f"<style>{_static(css)}</style>"


def theme() -> gr.themes.Base:
    """Calm clinical colours, system fonts (nothing fetched from font CDNs)."""
    return gr.themes.Soft(
        primary_hue=gr.themes.colors.teal,
        secondary_hue=gr.themes.colors.sky,
        neutral_hue=gr.themes.colors.slate,
        radius_size=gr.themes.sizes.radius_md,
        font=FONTS,
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    ).set(
        body_background_fill="#f4f7f8",
        button_primary_background_fill="#0f766e",
        button_primary_background_fill_hover="#115e59",
        button_primary_text_color="#ffffff",
        block_radius="14px",
        block_label_background_fill="transparent",
        block_title_background_fill="transparent",
        block_title_text_color="#0b3f3b",
        block_label_text_color="#0b3f3b",
        block_title_text_weight="700",
    )


def frame_ancestors(settings: Settings) -> str:
    """Who may show the chat in an iframe: PHYSIO_FRAME_ANCESTORS, e.g. "https://www.myclinic.example" ('self' if unset)."""
    value = settings.frame_ancestors or "'self'"
    return " ".join(value.replace(",", " ").split())


# ---- middleware --------------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _cookie(scope: Scope, name: str) -> str | None:
    for part in _header(scope, b"cookie").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _is_review(path: str) -> bool:
    return path == REVIEW or path.startswith(REVIEW + "/")


class ReviewGate:
    """Nothing under /review without a signed-in clinician, whatever the route (ASGI, before routing)."""

    def __init__(self, app: ASGIApp, auth: ReviewAuth):
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if not _is_review(path) or path in OPEN_REVIEW_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            if self.auth.user_for(_cookie(scope, SESSION_COOKIE)) is None:
                await send({"type": "websocket.close", "code": 4401})
                return
            await self.app(scope, receive, send)
            return
        if not self.auth.enabled:
            await _respond(scope, receive, send, HTMLResponse(login_page(HOW_TO_ENABLE, disabled=True), status_code=503))
            return
        if self.auth.user_for(_cookie(scope, SESSION_COOKIE)) is None:
            if scope["method"] in ("GET", "HEAD") and path in (REVIEW, REVIEW + "/"):
                response: Response = RedirectResponse(f"{root}{REVIEW}/login", status_code=303)
            else:
                response = JSONResponse({"detail": "Sign in at /review/login first."}, status_code=401)
            await _respond(scope, receive, send, response)
            return
        if path == REVIEW:
            await _respond(scope, receive, send, RedirectResponse(f"{root}{REVIEW}/", status_code=307))
            return
        await self.app(scope, receive, send)


async def _respond(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    await response(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413), whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.limit:
            await _respond(scope, receive, send, JSONResponse({"detail": "Request too large."}, status_code=413))
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # read the (small) body up front, then replay it; later receives pass through (disconnects)
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await _respond(scope, receive, send, JSONResponse({"detail": "Request too large."}, status_code=413))
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class SecurityHeaders:
    """nosniff, referrer policy, framing: the chat may be embedded where the clinic allows; /review never."""

    def __init__(self, app: ASGIApp, ancestors: str):
        self.app = app
        self.ancestors = ancestors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        review = _is_review(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in (b"x-frame-options", b"content-security-policy")]
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


# ---- the login page ------------------------------------------------------------------------------


def login_page(message: str = "", *, disabled: bool = False, user: str = "") -> str:
    notice = f'<p class="msg {"info" if disabled else "error"}" role="alert">{e(message)}</p>' if message else ""
    form = "" if disabled else (
        '<form method="post" action="login">'
        f'<label for="username">User name</label><input id="username" name="username" autocomplete="username" required value="{e(user)}">'
        '<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Sign in: clinician review</title><style>{_static('login.css')}</style></head><body><main>"
        '<h1>Clinician review</h1><p class="lead">Sign in to check and correct the assistant\'s answers.</p>'
        f"{notice}{form}<p class=\"back\"><a href=\"../\">Back to the patient chat</a></p></main></body></html>"
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---- the application -------------------------------------------------------------------------------


def build_app(assistant: Any, settings: Settings) -> FastAPI:
    """The FastAPI app with both gradio pages mounted and every review route behind the login gate."""
    auth = ReviewAuth(settings.review_user, settings.review_password_hash)
    limiter = ChatLimiter(settings.chat_rate_per_minute)
    app = FastAPI(title="physio-assistant", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.assistant = assistant
    app.state.auth = auth

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "chunks": len(getattr(assistant.index, "chunks", []) or []),
            "articles": len(assistant.kb.articles),
            "exercises": len(assistant.kb.cards),
            "review": "enabled" if auth.enabled else "disabled",
        }

    @app.get(f"{REVIEW}/login")
    def login_form(request: Request) -> Response:
        if not auth.enabled:
            return HTMLResponse(login_page(HOW_TO_ENABLE, disabled=True), status_code=503)
        if auth.user_for(request.cookies.get(SESSION_COOKIE)):
            return RedirectResponse(f"{REVIEW}/", status_code=303)
        return HTMLResponse(login_page())

    @app.post(f"{REVIEW}/login")
    async def login(request: Request) -> Response:
        if not auth.enabled:
            return HTMLResponse(login_page(HOW_TO_ENABLE, disabled=True), status_code=503)
        origin = request.headers.get("origin")
        if origin and origin not in ("null",) and origin.split("://", 1)[-1] != request.headers.get("host", ""):
            return HTMLResponse(login_page("Please sign in from this site's own login page."), status_code=403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0][:200]
        password = (form.get("password") or [""])[0][:1000]
        from starlette.concurrency import run_in_threadpool

        token, message = await run_in_threadpool(auth.login, _address(request), user, password)
        if token is None:
            status = 429 if message.startswith("Too many") else 401
            return HTMLResponse(login_page(message, user=user), status_code=status)
        response = RedirectResponse(f"{REVIEW}/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE, token, max_age=SESSION_SECONDS, path=REVIEW, httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.get(f"{REVIEW}/logout")
    def logout(request: Request) -> Response:
        auth.revoke(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(f"{REVIEW}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=REVIEW)
        return response

    @app.get(f"{REVIEW}/export.jsonl")
    def export(request: Request) -> Response:
        # the gate has checked the session already; check again, this route holds private data
        if auth.user_for(request.cookies.get(SESSION_COOKIE)) is None:
            return JSONResponse({"detail": "Sign in first."}, status_code=401)
        rows = assistant.records.export_reviews()
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        name = f"reviewed-cases-{dt.date.today():%Y%m%d}.jsonl"
        return Response(body, media_type="application/x-ndjson", headers={"content-disposition": f"attachment; filename={quote(name)}"})

    common: dict[str, Any] = {
        "theme": theme(),
        "footer_links": [],
        "run_history": False,  # patients' questions are not kept in the browser's storage
        "mcp_server": False,
        "ssr_mode": False,
        "max_file_size": MAX_BODY_BYTES,
        "show_error": False,
    }
    if auth.enabled:
        review = build_review(assistant, settings)
        review.queue(default_concurrency_limit=2)
        gr.mount_gradio_app(
            app, review, path=REVIEW, head=_head("review.css"),
            auth_dependency=lambda request: auth.user_for(request.cookies.get(SESSION_COOKIE)), **common,
        )
    chat = build_chat(assistant, settings, limiter)
    gr.mount_gradio_app(app, chat, path="/", head=_head("chat.css", meta=True), js=_static("chat.js"), **common)

    app.add_middleware(ReviewGate, auth=auth)
    app.add_middleware(SecurityHeaders, ancestors=frame_ancestors(settings))
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    return app


def run(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Load the assistant once, then serve until stopped (`physio-assistant serve`)."""
    import uvicorn

    from assistant.conversation import Assistant
    from assistant.records.lazy import ReconnectingRecords

    ReviewAuth(settings.review_user, settings.review_password_hash)  # a malformed hash fails now, not after loading
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    records = ReconnectingRecords(settings.records_url)
    if not records.connected:
        print("Warning: the records database cannot be reached; the chat will answer and log once it can.", flush=True)
    assistant = Assistant.load(settings, records=records, say=lambda m: print(m, flush=True))
    app = build_app(assistant, settings)
    if not settings.review_password_hash:
        print(HOW_TO_ENABLE, flush=True)
    print(f"Serving the patient chat on http://{host}:{port}/ (clinician review at /review, health at /healthz)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
