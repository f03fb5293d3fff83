"""The patient side of Contract 2 through the real server: /healthz, gradio_client `/chat`, call-backs."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client

from tests.web.support import Server

pytestmark = pytest.mark.slow

DISCLAIMER = "not a diagnosis"


def client(server: Server) -> Client:
    return Client(server.url + "/", verbose=False, download_files=False)


def test_healthz_answers_once_the_store_is_loaded(server: Server) -> None:
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["chunks"] > 0 and body["articles"] > 0
    assert body["review"] == "enabled"


def test_only_the_patient_endpoints_are_public(server: Server) -> None:
    api = client(server).view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == {"/chat", "/reply", "/callback"}
    assert not api["unnamed_endpoints"]


def test_chat_answers_a_question_with_the_disclaimer(server: Server) -> None:
    answer = client(server).predict("is walking ok with sciatica?", api_name="/chat")
    assert isinstance(answer, str)
    assert "walk" in answer.lower()
    assert DISCLAIMER in answer


def test_chat_sends_the_whole_answer_in_one_message(server: Server) -> None:
    """`/chat` is not streamed to programs (Contract 2 asks for the answer text; the page streams)."""
    job = client(server).submit("how long does sciatica usually last?", api_name="/chat")
    answer = job.result(timeout=60)
    assert DISCLAIMER in answer
    assert job.outputs() == [answer]


def test_the_server_replies_without_torch_loaded(server: Server) -> None:
    """Serving is ONNX Runtime: after a reply, no torch library is mapped into the server process."""
    from pathlib import Path

    assert "walk" in client(server).predict("is walking ok?", api_name="/chat").lower()
    maps = Path(f"/proc/{server.pid}/maps").read_text()
    assert "onnxruntime" in maps
    assert "libtorch" not in maps and "/torch/" not in maps
    assert "matplotlib" not in maps, "gradio's per-event backend switch must not load matplotlib (26 MB)"


def test_chat_emergency_leads_with_the_number_and_no_exercises(server: Server) -> None:
    message = "I can't feel my bum when I wipe"
    answer = client(server).predict(message, api_name="/chat")
    assert answer.startswith("**This could be a medical emergency")
    assert "999" in answer.split("\n\n")[0]
    assert "What you can try" not in answer
    assert DISCLAIMER in answer

    reply = client(server).predict(message, api_name="/reply")
    assert reply["triage"]["level"] == "emergency"
    assert [f["id"] for f in reply["triage"]["flags"]] == ["cauda_equina"]
    assert reply["exercises"] == []
    assert DISCLAIMER in reply["disclaimer"]


def test_chat_keeps_the_conversation_per_client(server: Server) -> None:
    c = client(server)
    first = c.predict("I can't feel my bum when I wipe", api_name="/reply")
    follow_up = c.predict("what exercises can I do?", api_name="/reply")
    assert first["triage"]["level"] == "emergency"
    assert follow_up["triage"]["level"] == "emergency", "a red flag earlier in the conversation still counts"
    assert follow_up["exercises"] == []
    fresh = client(server).predict("what exercises can I do for sciatica?", api_name="/reply")
    assert fresh["triage"]["level"] == "self_care"
    assert fresh["exercises"]


def test_chat_logs_each_turn_for_review(server: Server) -> None:
    client(server).predict("how long does sciatica usually last?", api_name="/chat")
    turns = server.records().list_turns(limit=20)
    assert any(t["user_message"] == "how long does sciatica usually last?" for t in turns)


def test_callback_needs_consent_then_is_stored(server: Server) -> None:
    c = client(server)
    refused = c.predict("Testy Callback", "07700 900123", "weekday mornings", "", False, api_name="/callback")
    assert "tick the box" in refused[0] and "Nothing was stored" in refused[0]
    assert not [r for r in server.records().list_callbacks() if r["name"] == "Testy Callback"]

    bad_contact = c.predict("Testy Callback", "call me", "", "", True, api_name="/callback")
    assert "phone number or an email" in bad_contact[0]

    stored = c.predict("Testy Callback", "07700 900123", "weekday mornings", "sciatica", True, api_name="/callback")
    assert "Your request was received" in stored[0]
    rows = [r for r in server.records().list_callbacks("open") if r["name"] == "Testy Callback"]
    assert len(rows) == 1 and rows[0]["contact"] == "07700 900123" and rows[0]["preferred_time"] == "weekday mornings"


def test_request_bodies_are_capped(server: Server) -> None:
    r = httpx.post(
        f"{server.url}/gradio_api/queue/join", content=b"x" * (70 * 1024), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_security_headers(server: Server) -> None:
    page = httpx.get(f"{server.url}/")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors" in page.headers["content-security-policy"]
    login = httpx.get(f"{server.url}/review/login")
    assert login.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert login.headers["x-frame-options"] == "DENY"


def test_the_benchmarks_lean_client_gets_the_same_answer_as_gradio_client(server: Server) -> None:
    """evals.bench.queue_client speaks gradio's queue protocol itself; its conversation continues per visitor."""
    from evals.bench.queue_client import QueueClient

    message = "I can't feel my bum when I wipe"
    with httpx.Client(timeout=30) as http:
        lean = QueueClient(http, server.url, "/chat")
        answer = lean.predict(message)
        follow_up = lean.predict("what exercises can I do?")
    assert answer == client(server).predict(message, api_name="/chat")
    assert "earlier you described something that needs urgent care" in follow_up, "the conversation continued"
