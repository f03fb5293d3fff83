"""Security regression suite: what an unauthenticated visitor tried on 2026-12-03 (issue 13), against
the real server over loopback (127.0.0.1 only), with bounded loops.

Each test is one of the probe's findings; each failed on the code before the fix. The in-process
versions (and the proxy-trusting side of forwarded headers) are in test_hardening.py.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import threading
import time
import uuid

import httpx
import psutil
import pytest

from tests.web.support import Server, call_queued, fn_index, login

pytestmark = pytest.mark.slow

EMERGENCY = "I can't feel my bum when I wipe"
BUSY = "faster than I can answer"


def rss(server: Server) -> int:
    return int(psutil.Process(server.pid).memory_info().rss)


def head_refused(r: httpx.Response) -> bool:
    """Refused for the size of its head, and by whom: the HTTP parser (400) when the head arrives in pieces
    and outgrows its buffer, else the app's header cap (431). Any other 400 or 431 is the wrong reason."""
    if r.status_code == 400:
        return r.text == "Invalid HTTP request received."
    return r.status_code == 431 and r.json() == {"detail": "Request headers too large."}


def logouts(server: Server, count: int, cookie_chars: int) -> dict[str, int]:
    """`count` GET /review/logout with a junk session cookie of `cookie_chars` characters; outcomes counted."""
    outcomes: dict[str, int] = {}
    with httpx.Client(timeout=10) as c:
        for i in range(count):
            junk = f"{i:06d}." + "x" * (cookie_chars - 7)
            try:
                status = str(
                    c.get(
                        f"{server.url}/review/logout",
                        headers={"cookie": f"physio_review={junk}"},
                        follow_redirects=False,
                    ).status_code
                )
            except httpx.TransportError:  # the server closed the connection on an oversized head
                status = "closed"
            outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


# ---- item 1: memory exhaustion without logging in ------------------------------------------------


@pytest.mark.parametrize(("cookie_chars", "expected"), [(100_000, {"400", "431", "closed"}), (400, {"303"})])
def test_junk_logouts_do_not_grow_the_server(server: Server, cookie_chars: int, expected: set[str]) -> None:
    """1,000 logouts with junk cookies: 100 KB ones are refused before routing (by the HTTP parser, 400, when
    the head arrives in pieces, else by the header cap, 431; see `head_refused`); 400-character ones reach
    /review/logout, which keeps nothing it did not sign. Resident memory grows by less than 5 MB."""
    logouts(server, 100, cookie_chars)  # warm up: allocator arenas, connection objects
    gc.collect()
    before = rss(server)
    outcomes = logouts(server, 1000, cookie_chars)
    time.sleep(0.5)
    grown = rss(server) - before
    print(
        f"\n1,000 junk logouts with {cookie_chars}-character cookies: {outcomes}, resident memory {grown / 1e6:+.2f} MB"
    )
    assert set(outcomes) <= expected, outcomes
    assert grown < 5_000_000, f"the server grew by {grown / 1e6:.1f} MB"
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_an_oversized_request_head_is_refused_and_the_server_answers_on(server: Server) -> None:
    r = httpx.get(f"{server.url}/healthz", headers={"cookie": "physio_review=" + "z" * 40_000})
    assert head_refused(r), (r.status_code, r.text[:200])
    before = rss(server)
    for _ in range(3):
        try:
            r = httpx.get(f"{server.url}/", headers={"x-junk": "y" * 5_000_000}, timeout=30)
            assert head_refused(r), (r.status_code, r.text[:200])
        except httpx.TransportError:
            pass  # closed while we were still sending: refused as well
    assert rss(server) - before < 20_000_000, "a 5 MB header must not be buffered whole"
    assert httpx.get(f"{server.url}/healthz").status_code == 200


# ---- item 2: spoofed X-Forwarded-For ---------------------------------------------------------------


def test_a_new_forwarded_address_per_message_does_not_dodge_the_chat_limit(server: Server) -> None:
    """No proxy is trusted by default: the header is ignored, and 30 messages a minute is the limit."""
    chat = fn_index(server.url, "chat")
    session = f"spoof-{uuid.uuid4().hex[:8]}"
    for i in range(30):
        answer = call_queued(
            server.url, chat, ["is walking ok?", None, None], session, headers={"x-forwarded-for": f"198.51.100.{i}"}
        )
        assert BUSY not in str(answer), f"message {i + 1} was refused"
    refused = call_queued(
        server.url, chat, ["is swimming ok?", None, None], session, headers={"x-forwarded-for": "198.51.100.250"}
    )
    assert BUSY in str(refused)


def test_a_spoofed_forwarded_address_does_not_dodge_the_login_lockout(server: Server) -> None:
    with httpx.Client() as c:
        statuses = [
            login(c, server.url, user="spoofer", password="guess", **{"x-forwarded-for": f"203.0.113.{i}"}).status_code
            for i in range(6)
        ]
    assert statuses == [401] * 5 + [429]


# ---- item 9: a message refused by the rate limit is triaged ---------------------------------------------


def test_an_emergency_over_the_rate_limit_still_gets_the_emergency_advice(server: Server) -> None:
    chat, reply = fn_index(server.url, "chat"), fn_index(server.url, "reply")
    session = f"flood-{uuid.uuid4().hex[:8]}"
    for _ in range(30):
        call_queued(server.url, chat, ["how long does sciatica last?", None, None], session)
    answer = str(call_queued(server.url, chat, [EMERGENCY, None, None], session))
    assert BUSY in answer
    assert answer.startswith("**This could be a medical emergency") and "999" in answer.split("\n\n")[0]
    obj = call_queued(server.url, reply, [EMERGENCY, None, None], session)
    assert isinstance(obj, dict) and obj["triage"]["level"] == "emergency" and BUSY in obj["error"]


# ---- item 3: the login race ------------------------------------------------------------------------------


def test_twenty_simultaneous_wrong_passwords_meet_a_limit_of_five(server: Server) -> None:
    statuses: list[int] = []
    start = threading.Barrier(20)

    def guess(i: int) -> None:
        with httpx.Client(timeout=60) as c:
            start.wait()
            statuses.append(login(c, server.url, user="racer", password=f"guess-{i}").status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    print(f"\n20 simultaneous wrong passwords: {sorted(statuses)}")
    assert len(statuses) == 20
    assert statuses.count(401) <= 5, f"{statuses.count(401)} passwords were checked against a limit of 5"
    assert set(statuses) <= {401, 429, 503}


# ---- item 4: anonymous uploads -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/gradio_api/upload", "/upload", "/gradio_api/upload?upload_id=abc"])
def test_anonymous_uploads_are_refused(server: Server, path: str) -> None:
    r = httpx.post(server.url + path, files={"files": ("note.txt", b"x" * 10_000, "text/plain")})
    assert r.status_code == 404, r.text[:200]
    assert "gradio" not in r.text.lower() and "/tmp" not in r.text


# ---- item 5: a session minted from the password hash ------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_a_cookie_forged_with_the_password_hash_is_refused(server: Server) -> None:
    key = hashlib.sha256(b"physio-review-session\0" + server.password_hash.encode()).digest()
    body = _b64(json.dumps({"u": "physio", "exp": int(time.time()) + 3600, "n": "0" * 16}).encode())
    forged = f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"
    for path in ("/review/config", "/review/export.jsonl", "/review/gradio_api/info"):
        assert httpx.get(server.url + path, cookies={"physio_review": forged}).status_code == 401, path


# ---- item 6: login origin, info routes, unknown functions -------------------------------------------------


def test_a_login_posted_from_origin_null_is_refused(server: Server) -> None:
    from tests.web.support import REVIEW_PASSWORD

    with httpx.Client() as c:
        r = login(c, server.url, password=REVIEW_PASSWORD, origin="null")
    assert r.status_code == 403 and "set-cookie" not in r.headers


@pytest.mark.parametrize(
    "path",
    [
        "/monitoring",
        "/monitoring/summary",
        "/openapi.json",
        "/docs",
        "/gradio_api/info?all_endpoints=true",
        "/gradio_api/startup-events",
        "/gradio_api/app_id",
        "/gradio_api/mcp/schema",
        "/gradio_api/upload_progress",
    ],
)
def test_the_info_routes_are_closed(server: Server, path: str) -> None:
    r = httpx.get(server.url + path)
    assert r.status_code == 404, f"{path}: {r.status_code} {r.text[:200]}"
    assert "success_rate" not in r.text and "openapi" not in r.text.lower()


def test_unknown_function_calls_are_refused_without_a_traceback(server: Server) -> None:
    before = server.log.read_text(errors="replace").count("Traceback")
    for route in ("/gradio_api/queue/join", "/gradio_api/run/predict"):
        for index in (999, -1, 10**9):
            body = {"data": [], "fn_index": index, "session_hash": "probe", "trigger_id": 1, "event_data": None}
            r = httpx.post(server.url + route, json=body)
            assert r.status_code == 404, f"{route} fn_index={index}: {r.status_code}"
    time.sleep(0.5)
    assert server.log.read_text(errors="replace").count("Traceback") == before


# ---- item 8: the data folder ---------------------------------------------------------------------------------


def test_the_data_folder_and_its_secrets_are_private(server: Server) -> None:
    assert server.data_dir.stat().st_mode & 0o777 == 0o700
    for name in ("records.sqlite3", "secret_key", "outbox.jsonl"):
        path = server.data_dir / name
        assert path.exists() and path.stat().st_mode & 0o777 == 0o600, name
