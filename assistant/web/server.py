"""The web server: patient chat at `/`, clinician review at `/review`, health at `/healthz` (Contract 2).

How `/review` is protected: `ReviewGate`, an ASGI middleware around the whole application, sees
every request before routing. Any path under `/review` other than the login and logout pages
needs a valid signed session cookie, or it gets a redirect to the login page (the page itself) or
401 (everything else: gradio's config, `/gradio_api/*` endpoints, queue, uploads and file routes,
the JSONL export). The review app also gets the same check as gradio's `auth_dependency`, and each
review handler checks the user again. Without PHYSIO_REVIEW_PASSWORD_HASH the review app is not
mounted at all and every `/review` path explains how to switch it on.

What anyone can reach is listed in `middleware.RouteAllowlist`: the two pages, their queue, and
the info gradio_client needs; gradio's uploads, file routes, monitoring and OpenAPI are 404.
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
from starlette.concurrency import run_in_threadpool

from assistant.seams import StoreBuilder
from assistant.settings import Settings
from assistant.web.auth import (
    BUSY,
    HOW_TO_ENABLE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    TOO_MANY,
    ReviewAuth,
    session_secret,
)
from assistant.web.chat import build_chat
from assistant.web.middleware import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    REVIEW,
    BodyLimit,
    ForwardedHint,
    HeaderLimit,
    ReviewGate,
    RouteAllowlist,
    SecurityHeaders,
)
from assistant.web.ratelimit import ChatLimiter
from assistant.web.render import e
from assistant.web.review import build_review

log = logging.getLogger("physio.web")

OUTBOX_MAX_TURNS = 20_000  # turns kept on disk while the records database is away (a few days of a busy clinic)
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
    """Who may show the chat in an iframe: PHYSIO_FRAME_ANCESTORS ('self' if unset).

    e.g. "https://www.myclinic.example"
    """
    value = settings.frame_ancestors or "'self'"
    return " ".join(value.replace(",", " ").split())


# ---- the login page ------------------------------------------------------------------------------


def login_page(message: str = "", *, disabled: bool = False, user: str = "") -> str:
    notice = f'<p class="msg {"info" if disabled else "error"}" role="alert">{e(message)}</p>' if message else ""
    form = (
        ""
        if disabled
        else (
            '<form method="post" action="login">'
            '<label for="username">User name</label><input id="username" name="username" autocomplete="username" '
            f'required value="{e(user)}">'
            '<label for="password">Password</label><input id="password" name="password" type="password" '
            'autocomplete="current-password" required>'
            '<button type="submit">Sign in</button></form>'
        )
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1">'
        f"<title>Sign in: clinician review</title><style>{_static('login.css')}</style></head><body><main>"
        '<h1>Clinician review</h1><p class="lead">Sign in to check and correct the assistant\'s answers.</p>'
        f'{notice}{form}<p class="back"><a href="../">Back to the patient chat</a></p></main></body></html>'
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def same_origin(origin: str | None, host: str) -> bool:
    """A login form post must come from this site's own page: no Origin (not a browser) or ours.

    `Origin: null` is what a sandboxed iframe, a data: URL or a file sends: never our login page.
    """
    if origin is None:
        return True
    scheme, sep, rest = origin.strip().partition("://")
    return bool(sep) and scheme in ("http", "https") and rest == host


# ---- the application -------------------------------------------------------------------------------


def build_app(assistant: Any, settings: Settings) -> FastAPI:
    """The FastAPI app with both gradio pages mounted and every review route behind the login gate."""
    auth = ReviewAuth(settings.review_user, settings.review_password_hash, secret=session_secret(settings))
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
        if not same_origin(request.headers.get("origin"), request.headers.get("host", "")):
            return HTMLResponse(login_page("Please sign in from this site's own login page."), status_code=403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0][:200]
        password = (form.get("password") or [""])[0][:1000]
        token, message = await run_in_threadpool(auth.login, _address(request), user, password)
        if token is None:
            status = 429 if message.startswith(TOO_MANY) else 503 if message.startswith(BUSY) else 401
            return HTMLResponse(login_page(message, user=user), status_code=status)
        response = RedirectResponse(f"{REVIEW}/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=SESSION_SECONDS,
            path=REVIEW,
            httponly=True,
            samesite="strict",
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
        return Response(
            body,
            media_type="application/x-ndjson",
            headers={"content-disposition": f"attachment; filename={quote(name)}"},
        )

    common: dict[str, Any] = {
        "theme": theme(),
        "footer_links": [],
        "run_history": False,  # patients' questions are not kept in the browser's storage
        "mcp_server": False,
        "ssr_mode": False,
        "max_file_size": MAX_BODY_BYTES,
        "show_error": False,
    }
    pages: dict[str, gr.Blocks] = {}
    if auth.enabled:
        review = build_review(assistant, settings)
        review.queue(default_concurrency_limit=2)
        gr.mount_gradio_app(
            app,
            review,
            path=REVIEW,
            head=_head("review.css"),
            auth_dependency=lambda request: auth.user_for(request.cookies.get(SESSION_COOKIE)),
            **common,
        )
        pages[REVIEW] = review
    chat = build_chat(assistant, settings, limiter)
    gr.mount_gradio_app(app, chat, path="/", head=_head("chat.css", meta=True), js=_static("chat.js"), **common)
    pages[""] = chat
    app.state.pages = pages

    # add_middleware wraps: the last added runs first
    app.add_middleware(RouteAllowlist, pages=pages)
    app.add_middleware(ReviewGate, auth=auth, disabled_page=login_page(HOW_TO_ENABLE, disabled=True))
    app.add_middleware(SecurityHeaders, ancestors=frame_ancestors(settings))
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    if settings.trusted_proxy_list:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    app.add_middleware(ForwardedHint, trusted=settings.trusted_proxy_list)
    app.add_middleware(HeaderLimit, limit=MAX_HEADER_BYTES)
    return app


def without_matplotlib() -> None:
    """Keep gradio from importing matplotlib in this process: the pages draw no plots.

    gradio wraps every event in a context that imports matplotlib to switch its backend (and
    carries on when it cannot be imported); the first chat of a server's life imported it, about
    26 MB resident and half a second of CPU, for nothing. matplotlib stays installed for the evals'
    charts, which run in other processes.
    """
    import sys

    if "matplotlib" not in sys.modules:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]  # an import now raises ImportError


def run(settings: Settings, host: str = "127.0.0.1", port: int = 7860, *, build: StoreBuilder | None = None) -> None:
    """Load the assistant once (building an empty store with `build`), then serve until stopped
    (`physio-assistant serve`)."""
    import os

    import uvicorn

    without_matplotlib()

    from assistant.conversation import Assistant
    from assistant.private_files import private_dir
    from assistant.records.lazy import ReconnectingRecords
    from assistant.records.outbox import LogOutbox

    os.umask(0o077)  # whatever the server writes (store, caches, records, spool) is for its own user only
    private_dir(settings.data_dir)
    ReviewAuth(
        settings.review_user, settings.review_password_hash, secret=session_secret(settings)
    )  # fail now, not after loading
    records = ReconnectingRecords(settings.records_url)
    if not records.connected:
        print("Warning: the records database cannot be reached; the chat will answer and log once it can.", flush=True)
    elif records.migration.changed:  # connecting migrates (assistant/records/migrate.py)
        print(f"Records database: {records.migration.line()}.", flush=True)
    outbox = LogOutbox(records, max_pending=OUTBOX_MAX_TURNS, spool=settings.outbox_path)
    if outbox.pending:
        print(f"{outbox.pending} turn(s) logged before the last stop are waiting for the records database.", flush=True)
        outbox.flush()
    assistant = Assistant.load(settings, records=records, build=build, say=lambda m: print(m, flush=True))
    assistant.outbox = outbox
    outbox.start_flusher()
    app = build_app(assistant, settings)
    if not settings.review_password_hash:
        print(HOW_TO_ENABLE, flush=True)
    print(
        f"Serving the patient chat on http://{host}:{port}/ (clinician review at /review, health at /healthz)",
        flush=True,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=5,
        # h11 caps a request's head (headers, cookies); httptools would buffer any size
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        # forwarded headers are read by our middleware, from PHYSIO_TRUSTED_PROXIES only
        proxy_headers=False,
        server_header=False,
    )
