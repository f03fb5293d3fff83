"""Other languages' words glossed into English for triage: the reviewed examples, English left alone,
and a red flag told in a language mix reaching the triage."""

from __future__ import annotations

import pytest

from assistant.gloss import gloss, languages_in, load_table
from assistant.models import Level

TABLE = load_table()
EXAMPLES = TABLE.examples


@pytest.mark.parametrize(("raw", "expected"), EXAMPLES, ids=[a[:40] for a, _ in EXAMPLES])
def test_glossed_form(raw: str, expected: str) -> None:
    assert gloss(raw) == expected


def test_every_language_has_an_example() -> None:
    shown = {name for raw, _ in EXAMPLES for name in languages_in(raw)}
    assert shown == set(TABLE.languages)


@pytest.mark.parametrize(
    "english",
    [
        "I bought a pair of shoes for walking, is that ok?",
        "me too, my back is sore after gardening",
        "No pain today, and the leg is fine",
        "Mi casa is a nice name for a cafe",  # one marker word is not enough
        "Can I come in at 10 on Tuesday?",
        "Dr de la Cruz said my pet theory about the pain was wrong",  # two Spanish markers, no Spanish word
        "My ma and pa are fine, I am the one with the sore back",
        "Bought a pie at the sale, then my back went picking up the fund-raising box",
        "Ana says the tang of the ointment is strong",
        "",
    ],
)
def test_english_is_never_touched(english: str) -> None:
    assert gloss(english) == english


def test_a_red_flag_told_in_a_language_mix_is_escalated_or_asked_about(assistant) -> None:
    reply = assistant.reply("Doctor sahib, kamar mein dard hai aur kal se peshab nahi aa raha, bahut zor lagta hai")
    ids = [f.id for f in reply.triage.flags]
    assert "cauda_equina" in ids or "cauda_equina_check" in ids
    # the emergency reply, or the question with its advice
    assert "Call 999 for an ambulance or go to the nearest A&E now" in reply.answer or (
        "go to A&E now or call 999" in reply.answer
    )


def test_a_plain_question_in_a_language_mix_is_not_alarmed(assistant) -> None:
    message = "Me duele mucho la espalda desde ayer, can I do exercises?"
    assert gloss(message) != message  # the triage reads an English gloss
    reply = assistant.reply(message)
    assert reply.triage.level.rank < Level.urgent.rank
