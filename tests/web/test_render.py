"""Replies as HTML: escaping, the safety banner at the top, cards, citations, the disclaimer (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.content import KnowledgeBase, load_knowledge
from assistant.models import AnswerSection, ExerciseRef, FlagHit, Level, Reply, SourceRef, Suggestion, Triage
from assistant.web.render import markdown_html, reply_html, user_message_html

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
DISCLAIMER = "This is general information, not a diagnosis."


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(KNOWLEDGE)


def reply(level: Level, answer: str = "", **kw: object) -> Reply:
    """A structured reply as the conversation layer builds it (`answer` text goes in as a note)."""
    notes = [answer] if answer else []
    return Reply(triage=Triage(level=level, flags=kw.pop("flags", [])), notes=notes, disclaimer=DISCLAIMER, **kw)  # type: ignore[arg-type]


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
        "Some more text.",
        lead=lead + "\n\n**Why:** nerves.",
        flags=[FlagHit(id="cauda_equina", evidence="x", level=Level.emergency)],
    )
    html = reply_html(r, kb)
    assert html.index("pa-banner--emergency") < html.index("pa-answer")
    assert 'role="alert"' in html and 'href="tel:999"' in html
    assert "This could be a medical emergency" in html
    assert "pa-card" not in html
    assert DISCLAIMER in html


def test_urgent_banner_is_amber_and_exercises_are_not_shown(kb: KnowledgeBase) -> None:
    r = reply(
        Level.urgent,
        lead="**Please get medical advice today.** Call 111.",
        exercises=[ExerciseRef(id="bird-dog", name="Bird dog", category="strengthening")],
    )
    html = reply_html(r, kb)
    assert "pa-banner--urgent" in html and 'href="tel:111"' in html
    assert "pa-card" not in html


def test_answer_first_then_cards_help_and_citations_collapsed(kb: KnowledgeBase) -> None:
    card = kb.cards["bird-dog"]
    section = kb.articles["walking-with-sciatica"].sections()[0]
    r = reply(
        Level.self_care,
        sections=[
            AnswerSection(
                id=section.id, source_id=section.article_id, title="Walking", heading=section.heading, text=section.text
            )
        ],
        exercises=[ExerciseRef(id="bird-dog", name="Bird dog", category="strengthening")],
        plan_note="Start gently.",
        help="See a GP if it is not improving.",
        sources=[
            SourceRef(id="walking-with-sciatica", title="Walking", score=0.7, status="draft", section=section.heading),
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
    html = reply_html(r, kb)
    assert "pa-banner" not in html
    answer_at = html.index("pa-answer")
    assert answer_at < html.index("pa-plan") < html.index("When to get help") < html.index("pa-sources")
    assert section.text.split()[0] in html[answer_at : html.index("pa-plan")]
    assert html.count('class="pa-card ') == 1 and "<svg" in html
    for text in (card.steps[0], card.dosage.text, card.stop_if[0], "Start gently."):
        assert text.replace("'", "&#x27;") in html
    assert html.count("<details") >= 3, "exercises, help and each source are collapsed under the answer"
    assert "Not yet checked by our physiotherapists" in html and "Read the whole article" in html
    assert "Checked by our physiotherapists" in html and "pa-checked" in html
    assert html.rstrip().endswith("</p></div>") and DISCLAIMER in html


def test_suggestions_are_buttons_that_carry_their_question(kb: KnowledgeBase) -> None:
    r = reply(
        Level.self_care,
        "Did you mean one of these?",
        suggestions=[
            Suggestion(
                id="a#b", title="Pacing your walks", article="Walking", message='How far should I walk? <b>"now"</b>'
            )
        ],
    )
    html = reply_html(r, kb)
    assert 'class="pa-chip"' in html and "Pacing your walks" in html
    assert "<b>" not in html and "&lt;b&gt;" in html, "a chip's question is escaped like any text"


def test_streaming_frames_show_the_banner_before_the_text(kb: KnowledgeBase) -> None:
    lead = "**This could be a medical emergency. Call 999 now.** Do not wait."
    r = reply(Level.emergency, " ".join(["word"] * 50), lead=lead)
    frame = reply_html(r, kb, partial_words=8)
    assert "pa-banner--emergency" in frame and "pa-disclaimer" not in frame
