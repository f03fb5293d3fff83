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
    settings = Settings(
        _env_file=None, data_dir=tmp_path_factory.mktemp("d"), knowledge_dir=KNOWLEDGE, review_password_hash=None
    )  # type: ignore[call-arg]
    fake = SimpleNamespace(
        kb=kb,
        policy=load_policy(KNOWLEDGE / "safety" / "policy.yaml", kb.clinic),
        index=SimpleNamespace(chunks=[1]),
        records=None,
    )
    return TestClient(build_app(fake, settings))


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/review"),
        ("GET", "/review/"),
        ("GET", "/review/config"),
        ("GET", "/review/login"),
        ("POST", "/review/login"),
        ("POST", "/review/gradio_api/queue/join"),
        ("GET", "/review/export.jsonl"),
    ],
)
def test_without_a_password_hash_review_is_off_and_says_how_to_switch_it_on(
    disabled_app: TestClient, method: str, path: str
) -> None:
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
    from assistant.web.chat import ChatPage
    from assistant.web.ratelimit import ChatLimiter

    asked: list[str] = []

    def reply(message: str, history: object, **kw: object) -> Reply:
        asked.append(message)
        return Reply(answer="An answer.", disclaimer="d")

    fake = SimpleNamespace(
        kb=kb, policy=load_policy(KNOWLEDGE / "safety" / "policy.yaml", kb.clinic), reply=reply, records=None
    )
    page = ChatPage(fake, ChatLimiter(per_minute=2))
    visitor = SimpleNamespace(client=SimpleNamespace(host="192.0.2.1"), session_hash="s1")
    answers = [page.chat_api(f"q{i}", [], None, visitor)[0] for i in range(3)]  # type: ignore[arg-type]
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
    assert (
        review.headers["content-security-policy"] == "frame-ancestors 'none'"
        and review.headers["cache-control"] == "no-store"
    )


@pytest.fixture(scope="module")
def triage_engine():  # type: ignore[no-untyped-def]
    from assistant.guardrails.triage import load_engine

    return load_engine(KNOWLEDGE)


def _limited_page(kb, engine):  # type: ignore[no-untyped-def]
    from assistant.models import Reply
    from assistant.web.chat import ChatPage
    from assistant.web.ratelimit import ChatLimiter

    def reply(message: str, history: object, **kw: object) -> Reply:
        return Reply(answer="An answer.", disclaimer="d")

    policy = load_policy(KNOWLEDGE / "safety" / "policy.yaml", kb.clinic)
    fake = SimpleNamespace(kb=kb, policy=policy, reply=reply, records=None, engine=engine)
    return ChatPage(fake, ChatLimiter(per_minute=1)), policy


def test_a_message_over_the_rate_limit_is_still_triaged(kb, triage_engine) -> None:  # type: ignore[no-untyped-def]
    """Triage runs before the rate limit: an emergency sent too fast still gets the emergency advice first."""
    from assistant.models import Level

    page, policy = _limited_page(kb, triage_engine)
    visitor = SimpleNamespace(client=SimpleNamespace(host="192.0.2.9"), session_hash="s9")
    assert page.chat_api("is walking ok?", [], None, visitor)[0] == "An answer."  # type: ignore[arg-type]
    emergency = "I can't feel my bum when I wipe"
    answer = page.chat_api(emergency, [], None, visitor)[0]  # type: ignore[arg-type]
    assert answer.startswith(policy.referral(Level.emergency)) and "faster than I can answer" in answer
    obj = page.reply_api(emergency, [], None, visitor)[0]  # type: ignore[arg-type]
    assert (
        obj["triage"]["level"] == "emergency" and obj["refused"] is True and "faster than I can answer" in obj["error"]
    )
    frames = list(page.respond(emergency, [], [], {}, None, visitor))  # type: ignore[arg-type]
    shown = frames[-1][1][-1]["content"]
    assert (
        "pa-banner--emergency" in shown and kb.clinic.emergency.number in shown and "faster than I can answer" in shown
    )
    # an earlier red flag in the conversation counts too, as it does for an answered message
    history = [{"role": "user", "content": emergency}, {"role": "assistant", "content": "..."}]
    assert page.chat_api("what exercises can I do?", history, None, visitor)[0].startswith(
        policy.referral(Level.emergency)
    )  # type: ignore[arg-type]


def test_a_routine_message_over_the_limit_gets_only_the_notice(kb, triage_engine) -> None:  # type: ignore[no-untyped-def]
    page, policy = _limited_page(kb, triage_engine)
    visitor = SimpleNamespace(client=SimpleNamespace(host="192.0.2.10"), session_hash="s10")
    page.chat_api("is walking ok?", [], None, visitor)  # type: ignore[arg-type]
    answer = page.chat_api("is swimming ok?", [], None, visitor)[0]  # type: ignore[arg-type]
    assert answer.startswith("You are sending messages faster")
    frames = list(page.respond("and cycling?", [], [], {}, None, visitor))  # type: ignore[arg-type]
    assert "pa-notice--warn" in frames[-1][1][-1]["content"]


def test_self_harm_over_the_limit_gets_the_crisis_text(kb, triage_engine) -> None:  # type: ignore[no-untyped-def]
    page, policy = _limited_page(kb, triage_engine)
    visitor = SimpleNamespace(client=SimpleNamespace(host="192.0.2.11"), session_hash="s11")
    page.chat_api("is walking ok?", [], None, visitor)  # type: ignore[arg-type]
    answer = page.chat_api("I want to end my life, the pain is too much", [], None, visitor)[0]  # type: ignore[arg-type]
    assert answer.startswith(policy.text(policy.file.crisis)) and kb.clinic.crisis.number in answer


def test_the_page_streams_and_the_api_answers_in_one_message(kb, triage_engine) -> None:  # type: ignore[no-untyped-def]
    """The page shows the answer in steps; its stored states are set once, with the whole answer.

    `/chat` returns the whole answer at once (a program gains nothing from frames of an answer
    that is complete before the first one is sent, and each frame costs the server a queue message).
    """
    import gradio as gr

    from assistant.models import Reply
    from assistant.web.chat import ChatPage
    from assistant.web.ratelimit import ChatLimiter

    words = " ".join(f"word{i}" for i in range(60))

    def reply(message: str, history: object, **kw: object) -> Reply:
        return Reply(answer=words, notes=[words], disclaimer="d", turn_id=7)

    policy = load_policy(KNOWLEDGE / "safety" / "policy.yaml", kb.clinic)
    fake = SimpleNamespace(kb=kb, policy=policy, reply=reply, records=None, engine=triage_engine)
    page = ChatPage(fake, ChatLimiter(per_minute=100))
    visitor = SimpleNamespace(client=SimpleNamespace(host="192.0.2.12"), session_hash="s12")
    frames = list(page.respond("is walking ok?", [], [], {}, None, visitor))  # type: ignore[arg-type]
    streamed = frames[1:-1]
    assert len(streamed) >= 3, "the page still streams the answer"
    assert all(f[2:] == (gr.skip(),) * 4 for f in streamed[1:]), "states are not rewritten while streaming"
    last = frames[-1]
    assert last[1] == last[2] and "word59" in last[2][-1]["content"]
    assert last[3][-1] == {"role": "assistant", "content": words} and last[4] == {1: 7}

    answer, turns, conv = page.chat_api("is walking ok?", [], None, visitor)  # type: ignore[arg-type]
    assert answer == words and turns[-1]["content"] == words and conv


def test_waiting_visitors_hear_their_place_every_few_seconds_not_on_every_job(disabled_app: TestClient) -> None:
    """With gradio's 'auto' status, every start of a job sent a message to every visitor waiting:
    quadratic in the queue (3,535 estimation messages for 120 calls with 40 visitors waiting)."""
    from assistant.web.chat import STATUS_SECONDS

    queue = disabled_app.app.state.pages[""]._queue  # type: ignore[attr-defined]
    assert queue.live_updates is False and queue.update_intervals == STATUS_SECONDS
