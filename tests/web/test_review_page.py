"""The review page's handlers over a real records database (no server: the gate is tested in test_review_access)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest

from assistant.content import load_knowledge
from assistant.records import Records
from assistant.web.review import ReviewPage

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
ME = SimpleNamespace(username="physio")


class FakeAssistant:
    """Just what the review page uses: the records, the knowledge base, and the refresh hook."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.kb = load_knowledge(KNOWLEDGE)
        self.refreshed = 0

    def refresh_approved(self) -> None:
        self.refreshed += 1


def contract(level: str, answer: str = "An answer.") -> dict[str, Any]:
    return {
        "answer": answer,
        "triage": {"level": level, "flags": [{"id": "cauda_equina", "evidence": "x"}] if level == "emergency" else []},
        "sources": [
            {"id": "walking-with-sciatica", "title": "Is walking good for sciatica?", "score": 0.8, "status": "draft"}
        ],
    }


@pytest.fixture()
def page(tmp_path: Path) -> ReviewPage:
    records = Records(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    records.log_turn("c1", "is walking ok with sciatica?", contract("self_care"))
    records.log_turn("c2", "I can't feel my bum when I wipe", contract("emergency"))
    records.log_turn("c3", "<script>alert(1)</script> my back", contract("routine", "<b>not bold</b>"))
    return ReviewPage(FakeAssistant(records))


def rows(result: tuple[Any, ...]) -> list[list[Any]]:
    return result[0].value["data"] if isinstance(result[0].value, dict) else result[0].value


def test_every_handler_needs_a_signed_in_user(page: ReviewPage) -> None:
    nobody = SimpleNamespace(username=None)
    with pytest.raises(gr.Error):
        page.list_turns("all", "", "", "all", None, nobody)  # type: ignore[arg-type]
    with pytest.raises(gr.Error):
        page.correct(1, "better", nobody)  # type: ignore[arg-type]
    with pytest.raises(gr.Error):
        page.list_callbacks(False, nobody)  # type: ignore[arg-type]


def test_list_newest_first_and_filters(page: ReviewPage) -> None:
    everything = page.list_turns("all", "", "", "all", None, ME)  # type: ignore[arg-type]
    table = rows(everything)
    assert [r[0] for r in table] == [3, 2, 1]
    assert "3 answers" in everything[2]
    emergency = rows(page.list_turns("emergency", "", "", "all", None, ME))  # type: ignore[arg-type]
    assert [r[0] for r in emergency] == [2] and emergency[0][4] == "cauda_equina"
    today = dt.datetime.now(page.tz).date()
    assert len(rows(page.list_turns("all", today.isoformat(), today.isoformat(), "all", None, ME))) == 3  # type: ignore[arg-type]
    assert rows(page.list_turns("all", (today + dt.timedelta(days=1)).isoformat(), "", "all", None, ME)) == []  # type: ignore[arg-type]
    with pytest.raises(gr.Error, match="YYYY-MM-DD"):
        page.list_turns("all", "yesterday", "", "all", None, ME)  # type: ignore[arg-type]


def test_detail_escapes_patient_text(page: ReviewPage) -> None:
    listing = page.list_turns("all", "", "", "all", None, ME)  # type: ignore[arg-type]
    detail, correction, _ = page.show_turn(3, listing[3], ME)  # type: ignore[arg-type]
    assert "<script>" not in detail and "&lt;script&gt;" in detail
    assert "<b>not bold</b>" not in detail
    assert correction == ""


def test_approve_correct_and_the_reviewed_filter(page: ReviewPage) -> None:
    assistant = page.assistant
    assert "approved" in page.approve(2, ME)  # type: ignore[arg-type]
    assert "Correction saved" in page.correct(1, "Walking is good: start with 10 minutes.", ME)  # type: ignore[arg-type]
    assert assistant.refreshed == 2
    answers = page.records.approved_answers()
    assert [(a["question"], a["answer"], a["reviewer"]) for a in answers] == [
        ("is walking ok with sciatica?", "Walking is good: start with 10 minutes.", "physio")
    ]
    unreviewed = rows(page.list_turns("all", "", "", "no", None, ME))  # type: ignore[arg-type]
    assert [r[0] for r in unreviewed] == [3]
    reviewed = rows(page.list_turns("all", "", "", "yes", None, ME))  # type: ignore[arg-type]
    assert {r[0]: r[7] for r in reviewed} == {2: "approved by physio", 1: "corrected by physio"}
    assert "Write the better answer" in page.correct(3, "  ", ME)  # type: ignore[arg-type]
    assert "No conversation turn with id 999" in page.correct(999, "text", ME)  # type: ignore[arg-type]
    assert "2 reviewed answers" in page.export_summary(ME)  # type: ignore[arg-type]


def test_articles_flag_and_approve(page: ReviewPage) -> None:
    assert "flagged" in page.flag("walking-with-sciatica", "Add the 2024 pacing advice", ME)  # type: ignore[arg-type]
    assert "Say briefly" in page.flag("walking-with-sciatica", "", ME)  # type: ignore[arg-type]
    assert page.records.article_statuses()["walking-with-sciatica"]["flags"][0]["note"] == "Add the 2024 pacing advice"
    assert "approved" in page.approve_article("walking-with-sciatica", ME)  # type: ignore[arg-type]
    assert page.records.article_statuses()["walking-with-sciatica"]["status"] == "approved"
    table = rows(page.list_articles(ME))  # type: ignore[arg-type]
    assert ["walking-with-sciatica", "Is walking good for sciatica?", "approved", ""] in table
    assert "returned to draft" in page.draft_article("walking-with-sciatica", ME)  # type: ignore[arg-type]
    view = page.show_article("walking-with-sciatica", ME)  # type: ignore[arg-type]
    assert "rv-status--draft" in view and "Why walking helps" in view


def test_callbacks_list_and_done(page: ReviewPage) -> None:
    ref = page.records.add_callback("Ann Example", "07700 900123", "mornings", True)
    table = rows(page.list_callbacks(False, ME))  # type: ignore[arg-type]
    assert table[0][0] == ref and table[0][2] == "Ann Example" and table[0][6] == "open"
    assert "marked as done" in page.callback_done(ref, ME)  # type: ignore[arg-type]
    assert rows(page.list_callbacks(False, ME)) == []  # type: ignore[arg-type]
    assert rows(page.list_callbacks(True, ME))[0][6] == "done"  # type: ignore[arg-type]
