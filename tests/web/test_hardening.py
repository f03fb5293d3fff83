"""What an unauthenticated visitor can reach, in-process (no model, no store): the real app around a
stand-in assistant. The same attacks against the real server are in `test_security.py`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from assistant.content import load_knowledge
from assistant.guardrails.policy import load_policy
from assistant.settings import Settings
from assistant.web.auth import SESSION_COOKIE, hash_password
from assistant.web.server import build_app, same_origin

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
PASSWORD = "in-process-Password-7"
PASSWORD_HASH = hash_password(PASSWORD)
PROXY = ("127.0.0.1", 40000)


@pytest.fixture(scope="module")
def kb():  # type: ignore[no-untyped-def]
    return load_knowledge(KNOWLEDGE)


def make_app(kb, data_dir: Path, **settings: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {"review_password_hash": PASSWORD_HASH, **settings}
    s = Settings(_env_file=None, data_dir=data_dir, knowledge_dir=KNOWLEDGE, **values)  # type: ignore[arg-type]
    fake = SimpleNamespace(
        kb=kb,
        policy=load_policy(KNOWLEDGE / "safety" / "policy.yaml", kb.clinic),
        index=SimpleNamespace(chunks=[1]),
        records=None,
    )
    return build_app(fake, s)


@pytest.fixture(scope="module")
def app(kb, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_app(kb, tmp_path_factory.mktemp("d"))


def login(client: TestClient, password: str = "wrong-password", user: str = "physio", **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/review/login", data={"username": user, "password": password}, headers=headers, follow_redirects=False
    )


# ---- item 2: forwarded headers are believed from PHYSIO_TRUSTED_PROXIES only ----------------------


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_by_default_x_forwarded_for_cannot_dodge_the_login_lockout(kb, tmp_path: Path) -> None:
    client = TestClient(make_app(kb, tmp_path / "d"), client=PROXY)
    statuses = [login(client, user="lock-me", **{"x-forwarded-for": f"198.51.100.{i}"}).status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2, "a new forwarded address per request is still the same visitor"


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_behind_a_trusted_proxy_each_forwarded_visitor_has_their_own_limit(kb, tmp_path: Path) -> None:
    client = TestClient(make_app(kb, tmp_path / "d", trusted_proxies="127.0.0.1"), client=PROXY)
    attacker = {"x-forwarded-for": "203.0.113.9"}
    assert [login(client, **attacker).status_code for _ in range(6)] == [401] * 5 + [429]
    assert login(client, password=PASSWORD, **{"x-forwarded-for": "192.0.2.44"}).status_code == 303
    # a spoofed first hop in front of the real one is not believed: the proxy appends what it saw
    assert login(client, **{"x-forwarded-for": "192.0.2.99, 203.0.113.9"}).status_code == 429


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_an_untrusted_peer_cannot_use_the_header_even_when_proxies_are_set(kb, tmp_path: Path) -> None:
    client = TestClient(make_app(kb, tmp_path / "d", trusted_proxies="10.0.0.0/8"), client=("192.0.2.1", 5000))
    statuses = [login(client, **{"x-forwarded-for": f"198.51.100.{i}"}).status_code for i in range(6)]
    assert statuses[-1] == 429


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_forwarded_headers_from_an_unlisted_proxy_are_reported_once(
    kb, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(make_app(kb, tmp_path / "d"), client=PROXY)
    with caplog.at_level(logging.WARNING, logger="physio.web"):
        for _ in range(3):
            client.get("/healthz", headers={"x-forwarded-for": "203.0.113.5"})
    hints = [r for r in caplog.records if "PHYSIO_TRUSTED_PROXIES" in r.getMessage()]
    assert len(hints) == 1 and "PHYSIO_TRUSTED_PROXIES=127.0.0.1" in hints[0].getMessage()


@pytest.mark.parametrize("value", ["nginx", "*", "127.0.0.1, proxy.local", "300.1.1.1"])
def test_trusted_proxies_must_be_addresses(value: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(_env_file=None, data_dir=tmp_path, trusted_proxies=value)  # type: ignore[call-arg]


def test_trusted_proxies_take_addresses_and_networks(tmp_path: Path) -> None:
    s = Settings(_env_file=None, data_dir=tmp_path, trusted_proxies="127.0.0.1, 10.0.0.0/8 ::1")  # type: ignore[call-arg]
    assert s.trusted_proxy_list == ["127.0.0.1", "10.0.0.0/8", "::1"]
    assert Settings(_env_file=None, data_dir=tmp_path).trusted_proxy_list == []  # type: ignore[call-arg]


# ---- items 4 and 6: only the routes the pages use answer ---------------------------------------------

CLOSED = [
    ("POST", "/gradio_api/upload"),
    ("POST", "/upload"),
    ("GET", "/gradio_api/upload_progress?upload_id=x"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/monitoring"),
    ("GET", "/monitoring/summary"),
    ("GET", "/gradio_api/info?all_endpoints=true"),
    ("GET", "/gradio_api/startup-events"),
    ("GET", "/gradio_api/app_id"),
    ("GET", "/gradio_api/user"),
    ("GET", "/gradio_api/token"),
    ("GET", "/gradio_api/mcp/schema"),
    ("GET", "/gradio_api/file=/etc/passwd"),
    ("GET", "/file=/etc/passwd"),
    ("GET", "/gradio_api/proxy=http://127.0.0.1/"),
    ("POST", "/gradio_api/vibe-edit"),
    ("POST", "/gradio_api/run/chat"),
    ("POST", "/gradio_api/call/chat"),
    ("POST", "/login"),
    ("GET", "/logout"),
    ("POST", "/healthz"),
    ("GET", "/gradio_api/queue/join"),
    ("DELETE", "/"),
]


@pytest.mark.parametrize(("method", "path"), CLOSED)
def test_gradio_routes_the_pages_do_not_use_are_not_there(app, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    r = TestClient(app).request(method, path, follow_redirects=False)
    assert r.status_code == 404, f"{method} {path}: {r.status_code} {r.text[:200]}"


def test_the_routes_the_page_and_gradio_client_use_still_answer(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    assert client.get("/").status_code == 200
    assert client.get("/config").status_code == 200
    assert client.get("/theme.css").status_code == 200
    info = client.get("/gradio_api/info")
    assert info.status_code == 200 and set(info.json()["named_endpoints"]) == {"/chat", "/reply", "/callback"}
    assert client.get("/healthz").status_code == 200
    assert client.get("/review/login").status_code == 200


@pytest.mark.parametrize("route", ["/gradio_api/queue/join", "/gradio_api/run/predict"])
@pytest.mark.parametrize("fn_index", [999, -1, "12345"])
def test_an_unknown_function_is_a_404_without_a_traceback(
    app,
    route: str,
    fn_index: object,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    body = {"data": [], "fn_index": fn_index, "session_hash": "abc", "trigger_id": 1, "event_data": None}
    with caplog.at_level(logging.DEBUG):
        r = TestClient(app, raise_server_exceptions=False).post(route, json=body)
    assert r.status_code == 404 and r.json() == {"detail": "No such function."}
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_queued_functions_cannot_be_run_around_the_queue(app) -> None:  # type: ignore[no-untyped-def]
    """`run/predict` runs a function at once; the chat must wait its turn in the queue (concurrency limit)."""
    chat = next(i for i, fn in app.state.pages[""].fns.items() if fn.api_name == "chat")
    r = TestClient(app).post(
        "/gradio_api/run/predict", json={"data": ["hi", [], None], "fn_index": chat, "session_hash": "abc"}
    )
    assert r.status_code == 404


def test_websockets_are_closed(app) -> None:  # type: ignore[no-untyped-def]
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), TestClient(app).websocket_connect("/gradio_api/queue/data") as ws:
        ws.receive_text()


# ---- item 6: the login form only from this site ------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "ok"),
    [
        (None, True),
        ("http://testserver", True),
        ("https://testserver", True),
        ("null", False),
        ("http://evil.example", False),
        ("testserver", False),
        ("file://testserver", False),
        ("http://testserver.evil.example", False),
    ],
)
def test_login_form_origin(origin: str | None, ok: bool) -> None:
    assert same_origin(origin, "testserver") is ok


def test_a_login_posted_with_origin_null_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    r = login(TestClient(app), password=PASSWORD, origin="null")
    assert r.status_code == 403 and "set-cookie" not in r.headers


# ---- item 5: the session key is not the password hash ---------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(password_hash: str, user: str = "physio") -> str:
    """A session token signed the way the first version did: with a key anyone holding the hash can derive."""
    key = hashlib.sha256(b"physio-review-session\0" + password_hash.encode()).digest()
    body = _b64(json.dumps({"u": user, "exp": int(time.time()) + 3600, "n": "0" * 16}).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def test_a_token_minted_from_the_password_hash_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    r = TestClient(app, cookies={SESSION_COOKIE: forge(PASSWORD_HASH)}).get("/review/config", follow_redirects=False)
    assert r.status_code == 401


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_the_session_key_file_is_private_and_survives_a_restart(kb, tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = TestClient(make_app(kb, data))
    signed_in = login(first, password=PASSWORD)
    assert signed_in.status_code == 303
    key_file = data / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    token = signed_in.cookies[SESSION_COOKIE]
    again = TestClient(make_app(kb, data), cookies={SESSION_COOKIE: token})
    assert again.get("/review/config").status_code == 200, "a restart with the same data folder keeps sessions"
    key_file.unlink()
    fresh = TestClient(make_app(kb, data), cookies={SESSION_COOKIE: token})
    assert fresh.get("/review/config", follow_redirects=False).status_code == 401, "a new key ends every session"


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_physio_secret_key_is_used_when_set_and_shared_by_replicas(kb, tmp_path: Path) -> None:
    secret = "k" * 40
    one = TestClient(make_app(kb, tmp_path / "a", secret_key=secret))
    token = login(one, password=PASSWORD).cookies[SESSION_COOKIE]
    assert not (tmp_path / "a" / "secret_key").exists()
    other = TestClient(make_app(kb, tmp_path / "b", secret_key=secret), cookies={SESSION_COOKIE: token})
    assert other.get("/review/config").status_code == 200
    changed = TestClient(make_app(kb, tmp_path / "b", secret_key="j" * 40), cookies={SESSION_COOKIE: token})
    assert changed.get("/review/config", follow_redirects=False).status_code == 401


def test_a_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Settings(_env_file=None, data_dir=tmp_path, secret_key="short")  # type: ignore[call-arg]


def test_a_request_head_over_32_kb_is_refused_before_any_route(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    assert (
        client.get(
            "/review/logout", headers={"cookie": "physio_review=" + "x" * 40_000}, follow_redirects=False
        ).status_code
        == 431
    )
    assert client.get("/healthz", headers={"x-a": "y" * 20_000}).status_code == 200


def test_a_cookie_with_non_ascii_text_is_a_401_not_a_500(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get(
        "/review/config", headers={"cookie": "physio_review=\u00e9.\u00e9".encode("latin-1")}
    )  # raw bytes on the wire
    assert r.status_code == 401
