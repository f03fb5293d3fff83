"""The app in-process (no model, no store): review switched off without a password hash; clinic-hours greeting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from assistant.content import load_knowledge
from assistant.guardrails.policy import load_policy
from assistant.settings import Settings
from assistant.web.chat import greeting_html, header_html
from assistant.web.server import build_app

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


@pytest.fixture(scope="module")
def kb():  # type: ignore[no-untyped-def]
    return load_knowledge(KNOWLEDGE)


@pytest.fixture(scope="module")
def disabled_app(kb, tmp_path_factory: pytest.TempPathFactory) -> TestClient:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("d"), knowledge_dir=KNOWLEDGE, review_password_hash=None)  # type: ignore[call-arg]
    fake = SimpleNamespace(kb=kb, policy=load_policy(KNOWLEDGE / "safety" / "policy.yaml", kb.clinic), index=SimpleNamespace(chunks=[1]), records=None)
    return TestClient(build_app(fake, settings))


@pytest.mark.parametrize("method,path", [("GET", "/review"), ("GET", "/review/"), ("GET", "/review/config"), ("GET", "/review/login"),
                                         ("POST", "/review/login"), ("POST", "/review/gradio_api/queue/join"), ("GET", "/review/export.jsonl")])
def test_without_a_password_hash_review_is_off_and_says_how_to_switch_it_on(disabled_app: TestClient, method: str, path: str) -> None:
    r = disabled_app.request(method, path, follow_redirects=False)
    assert r.status_code == 503
    assert "physio-assistant hash-password" in r.text and "PHYSIO_REVIEW_PASSWORD_HASH" in r.text
    assert "<form" not in r.text, "no login form: there is no password that could work"


def test_healthz_reports_review_disabled(disabled_app: TestClient) -> None:
    assert disabled_app.get("/healthz").json()["review"] == "disabled"


def test_greeting_knows_the_clinic_hours(kb) -> None:  # type: ignore[no-untyped-def]
    tz = ZoneInfo(kb.clinic.timezone)
    tuesday_morning = dt.datetime(2025, 3, 4, 10, 0, tzinfo=tz)
    sunday = dt.datetime(2025, 3, 2, 10, 0, tzinfo=tz)
    assert "Open now, until 19:00" in header_html(kb.clinic, tuesday_morning)
    assert "Closed, opens tomorrow at 08:00" in header_html(kb.clinic, sunday)
    greeting = greeting_html(kb.clinic, sunday)
    assert "closed right now" in greeting and "tomorrow at 08:00" in greeting
    assert f'href="{kb.clinic.booking_url}"' in greeting and "call-back" in greeting


def test_chat_rate_limit_answers_politely_with_the_phone_number(kb) -> None:  # type: ignore[no-untyped-def]
    from assistant.models import Reply
    from assistant.web.auth import ChatLimiter
    from assistant.web.chat import ChatPage

    asked: list[str] = []

    def reply(message: str, history: object, **kw: object) -> Reply:
        asked.append(message)
        return Reply(answer="An answer.", disclaimer="d")

    fake = SimpleNamespace(kb=kb, policy=load_policy(KNOWLEDGE / "safety" / "policy.yaml", kb.clinic), reply=reply, records=None)
    page = ChatPage(fake, ChatLimiter(per_minute=2))
    visitor = SimpleNamespace(client=SimpleNamespace(host="192.0.2.1"), session_hash="s1")
    answers = [list(page.chat_api(f"q{i}", [], None, visitor))[-1][0] for i in range(3)]  # type: ignore[arg-type]
    assert answers[:2] == ["An answer.", "An answer."]
    assert "faster than I can answer" in answers[2] and kb.clinic.phone in answers[2]
    assert asked == ["q0", "q1"], "the third message never reached the assistant"
    frames = list(page.respond("q3", [], [], {}, None, visitor))  # type: ignore[arg-type]
    display = frames[-1][1]
    assert "pa-notice--warn" in display[-1]["content"] and display[-2]["content"] == "q3"


def test_clinics_choose_who_may_embed_the_chat(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from assistant.web.server import frame_ancestors

    monkeypatch.delenv("PHYSIO_FRAME_ANCESTORS", raising=False)
    assert frame_ancestors(Settings(_env_file=None, data_dir=tmp_path)) == "'self'"  # type: ignore[call-arg]
    monkeypatch.setenv("PHYSIO_FRAME_ANCESTORS", "https://www.myclinic.example, 'self'")
    assert frame_ancestors(Settings(_env_file=None, data_dir=tmp_path)) == "https://www.myclinic.example 'self'"  # type: ignore[call-arg]


def test_pages_carry_security_headers(disabled_app: TestClient) -> None:
    chat = disabled_app.get("/healthz")
    assert chat.headers["x-content-type-options"] == "nosniff"
    assert chat.headers["content-security-policy"] == "frame-ancestors 'self'"
    review = disabled_app.get("/review/login")
    assert review.headers["content-security-policy"] == "frame-ancestors 'none'" and review.headers["cache-control"] == "no-store"
