"""Nothing of the clinician review is reachable without signing in, through any route (gradio's own included)."""

from __future__ import annotations

import json

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError

from tests.web.support import REVIEW_PASSWORD, REVIEW_USER, Server, login

pytestmark = pytest.mark.slow

SECRET_NAME = "Private Person"
SECRET_CONTACT = "private.person@example.org"
# strings that only the review app (or its data) contains: none may appear in an unauthenticated answer
PRIVATE_MARKERS = (
    "Better answer",
    "list_turns",
    "export_summary",
    "Call-back requests",
    SECRET_NAME,
    SECRET_CONTACT,
    "rv-turns",
)

GET_PATHS = [
    "/review",
    "/review/",
    "/review/config",
    "/review/config?deep_link=x",
    "/review/info",
    "/review/theme.css",
    "/review/gradio_api/info",
    "/review/gradio_api/info?all_endpoints=true",
    "/review/gradio_api/config",
    "/review/gradio_api/app_id",
    "/review/gradio_api/user",
    "/review/gradio_api/token",
    "/review/gradio_api/login_check",
    "/review/gradio_api/startup-events",
    "/review/gradio_api/queue/data?session_hash=abc",
    "/review/gradio_api/heartbeat/abc",
    "/review/gradio_api/call/list_turns/abc",
    "/review/gradio_api/file=/etc/passwd",
    "/review/file=/etc/passwd",
    "/review/gradio_api/mcp/schema",
    "/review/gradio_api/run/list_turns",
    "/review/assets/index.js",
    "/review/static/img/logo.svg",
    "/review/export.jsonl",
    "/review//config",
    "/review/%63onfig",
    "/review/../review/config",
]
POST_PATHS = [
    "/review/gradio_api/queue/join",
    "/review/gradio_api/run/predict",
    "/review/gradio_api/api/list_turns",
    "/review/gradio_api/call/list_turns",
    "/review/gradio_api/upload",
    "/review/gradio_api/predict",
    "/review/run/predict",
    "/review/gradio_api/reset",
    "/review/gradio_api/cancel",
    "/review/login/../gradio_api/queue/join",
]


@pytest.fixture(scope="module")
def private_data(server: Server) -> None:
    """Something private in the database, to look for in every answer."""
    server.records().add_callback(SECRET_NAME, SECRET_CONTACT, "any time", True)


def _assert_refused(r: httpx.Response, path: str) -> None:
    """Refused by the sign-in gate itself, which answers before any route can (so a 404 or 405 from a
    route that happens not to exist would be the wrong reason): the review page sends a browser to the
    login form, everything else under /review gets 401."""
    if r.request.method == "GET" and r.request.url.path in ("/review", "/review/"):
        assert r.status_code == 303, f"{path}: {r.status_code} {r.text[:200]}"
        assert r.headers["location"].endswith("/review/login"), f"{path} redirects to {r.headers['location']}"
    else:
        assert r.status_code == 401, f"{path}: {r.status_code} {r.text[:200]}"
        assert r.json() == {"detail": "Sign in at /review/login first."}, f"{path}: {r.text[:200]}"
    for marker in PRIVATE_MARKERS:
        assert marker not in r.text, f"{path} leaked {marker!r}"


@pytest.mark.usefixtures("private_data")
@pytest.mark.parametrize("path", GET_PATHS)
def test_get_without_login_is_refused(server: Server, path: str) -> None:
    r = httpx.get(server.url + path, follow_redirects=False)
    _assert_refused(r, path)


@pytest.mark.usefixtures("private_data")
@pytest.mark.parametrize("path", POST_PATHS)
def test_post_without_login_is_refused(server: Server, path: str) -> None:
    payload = {"data": [], "fn_index": 0, "event_data": None, "session_hash": "abc", "trigger_id": 1}
    r = httpx.post(server.url + path, json=payload, follow_redirects=False)
    _assert_refused(r, path)


@pytest.mark.usefixtures("private_data")
def test_every_review_event_refused_without_login(server: Server) -> None:
    """Even knowing the review app's event numbers, the queue refuses an unauthenticated caller."""
    for fn_index in range(40):
        body = {
            "data": ["all", "", "", "all", None],
            "fn_index": fn_index,
            "session_hash": f"s{fn_index}",
            "trigger_id": None,
            "event_data": None,
        }
        r = httpx.post(f"{server.url}/review/gradio_api/queue/join", json=body)
        _assert_refused(r, f"queue/join fn_index={fn_index}")


def test_a_forged_or_stale_cookie_is_refused(server: Server) -> None:
    for cookie in ("x", "eyJ1IjogInBoeXNpbyJ9.AAAA", "a.b.c", ""):
        r = httpx.get(f"{server.url}/review/config", cookies={"physio_review": cookie})
        _assert_refused(r, f"cookie {cookie!r}")


@pytest.mark.usefixtures("private_data")
def test_gradio_client_cannot_open_the_review_app(server: Server) -> None:
    # refused for want of a login: not a network error, a time-out or a crash that would also raise
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(server.url + "/review/", verbose=False)
    patient = Client(server.url + "/", verbose=False).view_api(return_format="dict", print_info=False)
    assert not any("turn" in name or "review" in name or "export" in name for name in patient["named_endpoints"])


@pytest.mark.usefixtures("private_data")
def test_after_login_the_same_routes_serve_the_review(server: Server) -> None:
    """The refusals above mean something: with the session cookie, the data is there."""
    with httpx.Client() as c:
        r = login(c, server.url)
        assert r.status_code == 303 and r.headers["location"].endswith("/review/")
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/review" in cookie
        config = c.get(f"{server.url}/review/config")
        assert config.status_code == 200 and "Better answer" in config.text
        assert c.get(f"{server.url}/review/", follow_redirects=False).status_code == 200
        export = c.get(f"{server.url}/review/export.jsonl")
        assert export.status_code == 200
        assert export.headers["content-disposition"].startswith("attachment")
        for line in export.text.splitlines():
            assert {"id", "message", "expected_answer", "review", "level"} <= set(json.loads(line))
        c.get(f"{server.url}/review/logout")
        assert c.get(f"{server.url}/review/config").status_code == 401


def test_wrong_password_is_refused(server: Server) -> None:
    with httpx.Client() as c:
        r = login(c, server.url, password="not-the-password")
        assert r.status_code == 401
        assert "do not match" in r.text
        assert "set-cookie" not in r.headers


def test_failed_logins_are_rate_limited(server: Server) -> None:
    """Five failures for one user name from one address lock it out there, even with the right password.

    (The lock per address is tested behind a trusted proxy in test_hardening.py: over loopback every
    test shares 127.0.0.1, and no proxy is trusted by default.)
    """
    with httpx.Client() as c:
        for _ in range(5):
            assert login(c, server.url, user="mallory", password="guess").status_code == 401
        locked = login(c, server.url, user="mallory", password="guess")
        assert locked.status_code == 429
        assert "Too many failed attempts" in locked.text
        assert login(c, server.url, user="mallory", password=REVIEW_PASSWORD).status_code == 429
    with httpx.Client() as c:  # the clinician's own name is not locked out by someone guessing another
        assert login(c, server.url, user=REVIEW_USER).status_code == 303


@pytest.mark.parametrize("route", ["/gradio_api/file={}", "/file={}", "/gradio_api/file={}?download=1"])
def test_the_patient_app_does_not_serve_the_records_database(server: Server, route: str) -> None:
    """gradio's file routes on the public app cannot reach the data folder either."""
    for target in ("records.sqlite3", "records.sqlite3-wal", "chroma/chroma.sqlite3"):
        path = route.format((server.data_dir / target).resolve())
        r = httpx.get(server.url + path, follow_redirects=False)
        assert r.status_code == 404, f"{path}: {r.status_code}"  # not on the route allowlist
        assert r.json() == {"detail": "Not Found"}, f"{path}: {r.text[:200]}"
        assert b"SQLite format" not in r.content
