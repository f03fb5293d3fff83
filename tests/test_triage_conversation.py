"""Triage v2 as a patient meets it: not a dead end after an emergency, medicines, long messages, the net."""

from __future__ import annotations

from assistant.models import Level

EMERGENCY = [
    {"role": "user", "content": "since yesterday I can't feel my bum when I wipe"},
    {
        "role": "assistant",
        "content": "This could be a medical emergency. Call 999 for an ambulance or go to the nearest A&E now.",
    },
]


def test_a_later_message_after_an_emergency_is_answered_with_a_reminder_not_the_same_reply(assistant) -> None:
    first = assistant.reply(EMERGENCY[0]["content"])
    later = assistant.reply("is walking ok?", EMERGENCY)
    assert later.triage.level == Level.emergency  # the banner stays
    assert later.answer != first.answer
    assert later.answer.startswith("**Reminder:**") and "999" in later.answer.split("\n\n")[0]
    assert any(s.kind == "article" for s in later.sources), "the new question is answered"
    assert not later.exercises


def test_seen_at_a_and_e_and_ruled_out_lets_the_conversation_go_on_with_the_question_again(assistant) -> None:
    reply = assistant.reply("I've been seen at A&E and they ruled it out, the MRI was clear", EMERGENCY)
    assert reply.triage.level != Level.emergency
    assert reply.triage.screening_question and "numbness" in reply.triage.screening_question


def test_a_later_message_that_takes_the_earlier_one_back_goes_on_with_the_question_again(assistant) -> None:
    """ "That wasn't about me, I was copying the leaflet": no longer the emergency reminder, but never
    silently dropped: the screening question is asked again. A sign told in the same message still counts."""
    reply = assistant.reply("sorry, that wasn't about me! I was copying bits from the leaflet", EMERGENCY)
    assert reply.triage.level != Level.emergency
    assert reply.triage.screening_question and "numbness" in reply.triage.screening_question
    assert "Thank you for explaining" in reply.answer
    again = assistant.reply("I meant I can't feel my bum at all when I wipe, since yesterday", EMERGENCY)
    assert again.triage.level == Level.emergency
    for taken_back in (
        "sorry I exaggerated, it's just my calf that goes a bit tingly when I sit too long",
        "ah no, false alarm, it was the cold bench at the match",
        "no no, not that kind of numb, I meant my bum was sore from the bike seat",
        "oops, autocorrect, I meant my thumb",
        "no wait, I mean the outside of my thigh, nowhere near my bum",
        "reading that back, it was my shoe catching, not my foot",
    ):
        assert assistant.reply(taken_back, EMERGENCY).triage.level != Level.emergency, taken_back
    for not_taken_back in (
        "I mean, is walking ok though?",  # "I mean" is not "I meant"
        "sorry I mean it's worse now, both legs are numb too",
        "I meant to ask, is walking ok?",
        "that was months ago and it's still numb",
    ):
        assert assistant.reply(not_taken_back, EMERGENCY).triage.level == Level.emergency, not_taken_back


def test_a_new_emergency_in_a_later_message_still_gets_the_full_emergency_reply(assistant) -> None:
    history = [
        {"role": "user", "content": "is walking ok with sciatica?"},
        {"role": "assistant", "content": "Yes, walking is usually good."},
    ]
    reply = assistant.reply("now I've wet myself without feeling it", history)
    assert reply.triage.level == Level.emergency
    assert reply.answer.startswith("**This could be a medical emergency.")


def test_coming_off_opioids_is_never_stopped_suddenly_and_goes_to_a_pharmacist(assistant) -> None:
    reply = assistant.reply("I want to come off my pregabalin, can I just stop taking it?")
    assert "do not stop this medicine suddenly" in reply.answer
    assert "pharmacist" in reply.answer


def test_more_tablets_than_the_label_allows_is_overdose_advice_now(assistant) -> None:
    reply = assistant.reply("I've taken twelve co-codamol today because nothing touches the pain")
    assert reply.triage.level == Level.emergency
    assert reply.triage.flags[0].id == "medicine_overdose"
    assert "A&E" in reply.answer


def test_fever_during_cancer_treatment_is_an_emergency_that_names_the_oncology_line(assistant) -> None:
    """Suspected neutropenic sepsis (NICE CG151): treated within the hour, so not a same-day GP visit."""
    reply = assistant.reply(
        "Second round of chemotherapy for bowel cancer, shivery with a temperature of 38 and my lower back aches"
    )
    assert reply.triage.level == Level.emergency
    assert "cancer_treatment_fever" in [f.id for f in reply.triage.flags]
    assert "acute oncology" in reply.answer


def test_a_red_flag_at_the_end_of_a_too_long_message_is_still_triaged(assistant) -> None:
    limit = assistant.settings.max_message_chars
    message = (
        "My back has been sore for a while. " * (limit // 30) + "Since this morning I can't feel my bum when I wipe."
    )
    reply = assistant.reply(message)
    assert reply.refused and reply.refusal_reason == "too_long"
    assert reply.triage.level == Level.emergency
    assert reply.answer.startswith("**This could be a medical emergency.")


def test_invisible_characters_inside_words_do_not_hide_a_red_flag(assistant) -> None:
    reply = assistant.reply("I can\u200bt fe\u00adel my bu\u200dm when I wi\ufeffpe")
    assert reply.triage.level == Level.emergency


def test_the_net_runs_beside_the_rules_and_says_which_raised_a_flag(assistant) -> None:
    assert assistant.triager.net is not None, "the shipped triage net should load with the bundled model"
    reply = assistant.reply("I can't feel my bum when I wipe")
    assert reply.triage.flags[0].source == "rules"
