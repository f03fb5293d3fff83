"""The knowledge base can be found: its sections by their own phrasings, its topics by plain questions."""

from __future__ import annotations

import pytest

from assistant.retrieval import tokens

# Issue 15's missing topics, asked plainly (written for this test, not taken from any eval set).
TOPICS = [
    ("I'm flying to Spain next week, how do I cope with the flight with sciatica?", {"flying-and-long-journeys"}),
    (
        "can I use my health insurance for physio, or do I need a GP referral?",
        {"paying-insurance-and-referral", "clinic.self_referral"},
    ),
    ("which painkillers does NICE suggest for back pain?", {"medicines-for-sciatica"}),
    ("how do I come off gabapentin safely?", {"coming-off-painkillers"}),
    ("what happens if I take too many painkillers by mistake?", {"too-many-painkillers"}),
    ("is sex ok with sciatica?", {"sex-and-back-pain"}),
    ("what is recovery like after a microdiscectomy?", {"rehab-after-back-surgery"}),
    ("my sciatica has lasted over a year, what is a pain management programme?", {"long-lasting-sciatica"}),
    ("could my leg pain when walking be my circulation rather than sciatica?", {"leg-pain-not-sciatica"}),
    ("how do I tell if the pain is from my hip or my back?", {"hip-or-back-pain"}),
    ("my child has back pain, should I worry?", {"back-pain-in-children"}),
    pytest.param(
        "my 14 year old has back pain, is that normal?",
        {"back-pain-in-children"},
        marks=pytest.mark.xfail(
            strict=True, reason="known miss: '14 year old' lands on the older-adults article (ages as numbers)"
        ),
        id="back-pain-in-children",
    ),
    ("is a hot bath good for sciatica?", {"heat-and-ice"}),
    ("should I buy a massage gun for my back?", {"foam-rollers-massage-guns-and-inversion-tables"}),
    ("will a back brace help my sciatica?", {"braces-belts-and-supports"}),
    ("should I use a walking stick with sciatica?", {"walking-aids"}),
    ("it's 2am and the pain is unbearable, what can I do right now?", {"unbearable-pain-at-night"}),
    ("what should I wear to my first physio appointment?", {"first-physio-appointment"}),
    ("how many physio sessions will I need?", {"physio-sessions-and-follow-ups", "first-physio-appointment"}),
    ("what is the McKenzie method?", {"mckenzie-method"}),
    ("does a TENS machine help sciatica?", {"tens-machines"}),
    ("does acupuncture work for back pain?", {"acupuncture"}),
    ("why is my back so stiff in the mornings?", {"morning-stiffness", "inflammatory-back-pain"}),
    ("I'm a nurse, how do I protect my back at work with sciatica?", {"physical-jobs"}),
]


@pytest.mark.parametrize(("message", "articles"), TOPICS)
def test_every_new_topic_is_found_for_a_plain_question(assistant, message: str, articles: set[str]) -> None:
    """Quoted, offered as a choice, or (a clinic question) answered from the clinic profile."""
    reply = assistant.reply(message)
    quoted = {s.source_id for s in reply.sections}
    offered = {s.id.split("#")[0] for s in reply.suggestions}
    assert (quoted | offered | {reply.intent}) & articles, (message, quoted or offered or reply.answer[:200])


def test_sections_are_reached_by_their_own_phrasings(assistant) -> None:
    """Each section: one of its own phrasings finds its article first and ranks it first there.

    A few "when to get help" sections lose their phrasings to the red-flag articles, which is where
    those questions should go; the ceiling keeps that from growing unnoticed."""
    unreachable = []
    total = 0
    for article in assistant.kb.articles.values():
        for section in article.sections():
            total += 1
            reached = False
            for question in section.questions:
                vector, hits = assistant.retrieve(question, [])
                if hits and hits[0].source_id == article.id:
                    ranked = assistant.section_index.rank(vector, tokens(question), [article.id])
                    reached = bool(ranked) and ranked[0].section.id == section.id
                if reached:
                    break
            if not reached:
                unreachable.append(section.id)
    print(f"\n{total - len(unreachable)} of {total} sections reached by their own phrasings; not: {unreachable}")
    assert len(unreachable) <= 0.05 * total, unreachable
