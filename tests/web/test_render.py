"""Replies as HTML: escaping, the safety banner at the top, cards, citations, the disclaimer (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.content import KnowledgeBase, load_knowledge
from assistant.models import ExerciseRef, FlagHit, Level, Reply, SourceRef, Triage
from assistant.web.render import markdown_html, reply_html, split_answer, user_message_html

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
DISCLAIMER = "This is general information, not a diagnosis."


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(KNOWLEDGE)


def reply(level: Level, answer: str, **kw: object) -> Reply:
    return Reply(
        triage=Triage(level=level, flags=kw.pop("flags", [])),
        answer=answer + f"\n\n_{DISCLAIMER}_",
        disclaimer=DISCLAIMER,
        **kw,
    )  # type: ignore[arg-type]


def test_user_text_is_never_live_html() -> None:
    out = user_message_html('<script>alert(1)</script><img src=x onerror="alert(2)"> [link](javascript:alert(3))')
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out
    assert "\\[link\\]" in out, "Markdown link syntax is neutralised"


def test_markdown_from_the_assistant_cannot_carry_html() -> None:
    out = markdown_html("**Hi** <script>x</script> [a](javascript:alert(1)) https://example.org/book.")
    assert "<strong>Hi</strong>" in out
    assert "<script>" not in out and 'href="javascript' not in out
    assert 'href="https://example.org/book"' in out and 'rel="noopener noreferrer"' in out
    assert "\n\n" not in out, "one HTML block, so the chat's Markdown pass cannot split it"


def test_emergency_banner_comes_first_with_the_number(kb: KnowledgeBase) -> None:
    lead = "**This could be a medical emergency. Call 999 for an ambulance or go to the nearest A&E now.** Do not wait."
    r = reply(
        Level.emergency,
        lead + "\n\n**Why:** nerves.",
        flags=[FlagHit(id="cauda_equina", evidence="x", level=Level.emergency)],
    )
    html = reply_html(r, kb, referral=lead)
    assert html.index("pa-banner--emergency") < html.index("pa-answer")
    assert 'role="alert"' in html and 'href="tel:999"' in html
    assert "This could be a medical emergency" in html
    assert "pa-card" not in html
    assert DISCLAIMER in html


def test_urgent_banner_is_amber_and_exercises_are_not_shown(kb: KnowledgeBase) -> None:
    r = reply(
        Level.urgent,
        "**Please get medical advice today.** Call 111.",
        exercises=[ExerciseRef(id="bird-dog", name="Bird dog", category="strengthening")],
    )
    html = reply_html(r, kb)
    assert "pa-banner--urgent" in html and 'href="tel:111"' in html
    assert "pa-card" not in html


def test_cards_citations_and_draft_label(kb: KnowledgeBase) -> None:
    card = kb.cards["bird-dog"]
    answer = (
        "Staying active helps.\n\n**What you can try**\n\n- **Bird dog** (strengthening). Steps.\n\nStart gently.\n\n"
        "**When to get help**\n\nSee a GP.\n\n**Sources:** Bird dog"
    )
    r = reply(
        Level.self_care,
        answer,
        exercises=[ExerciseRef(id="bird-dog", name="Bird dog", category="strengthening")],
        sources=[
            SourceRef(id="bird-dog", title="Bird dog", score=0.7, kind="exercise", status="draft"),
            SourceRef(
                id="approved-1",
                title="Answer checked by a physiotherapist",
                score=0.9,
                kind="approved",
                status="approved",
            ),
        ],
    )
    parts = split_answer(r)
    assert "What you can try" not in parts.body and "**Sources:**" not in parts.body and DISCLAIMER not in parts.body
    assert parts.plan_note == "Start gently."
    html = reply_html(r, kb)
    assert "pa-banner" not in html
    assert html.count('class="pa-card ') == 1 and "<svg" in html
    for text in (card.steps[0], card.dosage.text, card.stop_if[0]):
        assert text.replace("'", "&#x27;") in html
    assert "<details" in html and "Not yet checked by our physiotherapists" in html
    assert "Checked by our physiotherapists" in html and "pa-checked" in html
    assert html.rstrip().endswith("</p></div>") and DISCLAIMER in html


def test_streaming_frames_show_the_banner_before_the_text(kb: KnowledgeBase) -> None:
    lead = "**This could be a medical emergency. Call 999 now.** Do not wait."
    r = reply(Level.emergency, lead + "\n\n" + " ".join(["word"] * 50))
    frame = reply_html(r, kb, referral=lead, partial_words=8)
    assert "pa-banner--emergency" in frame and "pa-disclaimer" not in frame
