"""Every example in the reviewed rule files is a test: phrases that must fire, and must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.guardrails.rules import load_rule_file, load_rules
from assistant.guardrails.triage import TriageEngine, load_engine
from assistant.guardrails.triage_net import clauses
from assistant.models import Level, Triage, Turn

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
RULES = load_rule_file(KNOWLEDGE / "safety" / "triage.yaml")
ENGINE = load_engine(KNOWLEDGE)


def _cases(kind: str) -> list[tuple[str, str]]:
    return [(flag.id, text) for flag in RULES.flags for text in getattr(flag.examples, kind)]


@pytest.mark.parametrize(("flag_id", "message"), _cases("fire"))
def test_rule_fires_on_its_examples(flag_id: str, message: str) -> None:
    fired = [f.id for f in ENGINE.triage(message).flags]
    assert flag_id in fired, f"{message!r} should raise {flag_id}, raised {fired}"


@pytest.mark.parametrize(("flag_id", "message"), _cases("quiet"))
def test_rule_stays_quiet_on_denied_general_or_other_peoples_mentions(flag_id: str, message: str) -> None:
    fired = [f.id for f in ENGINE.triage(message).flags]
    assert flag_id not in fired, f"{message!r} should not raise {flag_id}"


def test_every_flag_has_examples_that_fire() -> None:
    assert all(flag.examples.fire for flag in RULES.flags)


def test_evidence_quotes_the_patients_words() -> None:
    triage = ENGINE.triage("Hi. My back hurts a lot. I can't feel my bum when I wipe. Any stretches?")
    assert triage.level == Level.emergency
    assert "wipe" in triage.flags[0].evidence


def test_a_flag_raised_early_still_governs_later_turns() -> None:
    history = [
        Turn(role="user", content="since yesterday I keep wetting myself and my back is agony"),
        Turn(role="assistant", content="This could be an emergency. Call 999."),
        Turn(role="user", content="I'd rather not go to hospital"),
        Turn(role="assistant", content="Please call 999."),
    ]
    triage = ENGINE.triage("ok but what stretches can I do while I wait?", history)
    assert triage.level == Level.emergency


def _said_then(first: str, then: str) -> Triage:
    history = [Turn(role="user", content=first), Turn(role="assistant", content="Can you tell me a bit more?")]
    return ENGINE.triage(then, history)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("numb between the legs and can't pee properly", "sorry, that wasn't about me! I was copying the leaflet"),
        ("had a temp of 39 and awful back pain", "sorry, that was last winter with covid, all gone"),
        ("I can't feel my legs after that", "lol no sorry, figure of speech! can feel everything fine"),
        ("I had chest pain with my back pain last night", "ECG and bloods at A&E all clear, it's muscular"),
    ],
)
def test_a_later_message_that_takes_back_or_clears_the_earlier_one_asks_again_instead(first: str, then: str) -> None:
    """Not escalated on words the writer took back or a clinician cleared, and never dropped in silence:
    the flag is kept as checked, with its question asked again."""
    assert _said_then(first, "ok").level in (Level.emergency, Level.urgent)
    triage = _said_then(first, then)
    assert triage.level == Level.routine
    assert any(f.id.endswith("_checked") for f in triage.flags)


@pytest.mark.parametrize(
    "then",
    [
        "I meant I can't feel my bum at all when I wipe, since yesterday",  # the sign, told again
        "that was months ago and it's still numb",  # still there
        "I mean, is walking ok though?",  # "I mean" takes nothing back
        "I had an MRI two years ago",  # a check with no result
    ],
)
def test_a_later_message_that_does_not_take_the_sign_back_keeps_the_emergency(then: str) -> None:
    assert _said_then("since yesterday I can't feel my bum when I wipe", then).level == Level.emergency


def test_someone_who_has_got_a_sign_now_is_not_their_past_story() -> None:
    """ "My husband's got ..." is now (British "has got"), unlike "my dad got cancer in 2010"."""
    now = ENGINE.triage("My husband's got upper back pain and says his chest feels tight and his left arm's heavy.")
    assert now.level == Level.emergency
    assert ENGINE.triage("My dad got cancer in 2010. My own back is sore from gardening").level == Level.self_care


@pytest.mark.parametrize(
    "message",
    [
        "My partner's off work with a fever and flu and I've done my back in hauling him up the stairs. Tips for me?",
        "My mum's on morphine for her cancer and I'm worried about my own back because I'm lifting her",
        "My mum's a cancer nurse and she says I should try pilates for my back. Is she right?",
    ],
)
def test_someone_elses_risk_factor_beside_the_writers_own_complaint_is_theirs(message: str) -> None:
    assert ENGINE.triage(message).level == Level.self_care


@pytest.mark.parametrize(
    ("message", "flag"),
    [
        ("My mum has cancer and her back pain keeps her awake at night", "malignancy"),  # a carer's report
        ("I had breast cancer like my mum and now my back hurts", "malignancy"),  # the writer's own
        ("My husband is on chemo and has a fever and I hurt my back lifting him", "cancer_treatment_fever"),
    ],
)
def test_a_risk_factor_that_is_the_writers_or_a_whole_warning_sign_of_theirs_still_counts(
    message: str, flag: str
) -> None:
    assert flag in [f.id for f in ENGINE.triage(message).flags]


@pytest.mark.parametrize(
    ("message", "level"),
    [
        ("At what point should someone worry about a foot drop? I'm doing a first aid course.", Level.self_care),
        (
            "When should you call an ambulance for chest pain with back pain? Mine's just a sore upper back.",
            Level.self_care,
        ),
        (
            "is my back pain a heart attack, it's just a sore lower back after carrying the baby",
            Level.self_care,
        ),
        ("When should you worry? I've got crushing chest pain and my back hurts", Level.emergency),
        ("could this be a heart attack? I have crushing chest pain", Level.emergency),
        # a cancer named as the writer's own is their history, not a fear
        ("could it be the cancer coming back? back pain at night", Level.urgent),
        ("is my cancer back? my legs have gone weak and wobbly since yesterday", Level.emergency),
        # "suppose I ...", "is X ever Y?", "if it did happen": a condition or a general question
        ("Suppose I took an extra co-codamol at night, would that be dangerous? I haven't.", Level.self_care),
        ("say I lost feeling in my bum, what then?", Level.self_care),
        ("Is back pain ever a heart attack? Mine is just a sore lower back.", Level.self_care),
        ("Is back pain ever a heart attack? I have crushing chest pain now", Level.emergency),
        (
            "Just so I know for later: if the foot drop they warned me about did happen, can I still exercise?",
            Level.self_care,
        ),
        ("I'd say I lost feeling in my bum yesterday", Level.emergency),
        ("I took an extra co-codamol last night, say I did it again tonight?", Level.emergency),
        ("Does fever with back pain mean infection? I don't have a fever, just reading about it.", Level.self_care),
        ("Does fever with back pain mean infection? I've had 38.5 since last night", Level.urgent),
    ],
)
def test_a_general_question_or_a_feared_diagnosis_asked_about_is_no_sign(message: str, level: Level) -> None:
    assert ENGINE.triage(message).level == level


def test_a_yes_to_the_screening_question_escalates() -> None:
    first = ENGINE.triage("I've been constipated since the sciatica started")
    assert first.screening_question
    history = [
        Turn(role="user", content="I've been constipated since the sciatica started"),
        Turn(role="assistant", content=first.screening_question),
    ]
    assert ENGINE.triage("yes, a bit numb down there", history).level == Level.emergency


def test_a_clear_no_to_the_screening_question_de_escalates() -> None:
    first = ENGINE.triage("my left buttock is numb")
    history = [
        Turn(role="user", content="my left buttock is numb"),
        Turn(role="assistant", content=f"Question: {first.screening_question}"),
    ]
    assert first.level.rank > Level.self_care.rank
    after = ENGINE.triage("no, nothing like that", history)
    assert after.level == Level.self_care


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("the second one, yeah, since Friday", Level.emergency),  # a yes to one part of a two-part question
        ("no to the first, yes to the second", Level.emergency),  # a yes anywhere wins over a no
        ("not sure really", Level.emergency),  # unsure counts as yes
        ("not sure, hang on... no, it all feels normal", Level.self_care),  # unsure, then a clear no
        ("yeah all normal, it's just the leg", Level.self_care),  # a yes that introduces a no
        ("i do not have any of those", Level.self_care),
        # what people say before answering does not hide the answer
        ("erm, now you mention it, kind of? a dull patch when I wipe. waterworks are fine", Level.emergency),
        ("funny you say that, yes sometimes", Level.emergency),
        ("hmm honestly no, all normal", Level.self_care),
        # a yes with limits, a part picked out by name, a no taken back by what follows
        ("only when I wipe", Level.emergency),
        ("the peeing one", Level.emergency),
        ("not numb but it feels different", Level.emergency),
        ("now you mention it, it does feel a bit odd", Level.emergency),
        # ... but a part named inside a no is no yes
        ("Nope. Wee's fine, both legs fine apart from the right one which is the sciatica one", Level.self_care),
    ],
)
def test_answers_to_a_two_part_screening_question(answer: str, expected: Level) -> None:
    history = [
        Turn(role="user", content="Sciatica in my right leg since Tuesday, any exercises?"),
        Turn(
            role="assistant",
            content="Two quick checks first: any numbness around your bottom? And any change in how you pee or poo?",
        ),
    ]
    assert ENGINE.triage(answer, history).level == expected


def test_a_screening_question_answered_before_it_is_asked_is_not_asked_again() -> None:
    # "no fever" answers the infection question; "no thoughts of hurting myself" answers the safety one
    assert ENGINE.triage("I had a spinal injection last week, no fever, no chills").level == Level.self_care
    assert (
        ENGINE.triage("I feel hopeless with this pain. No thoughts of hurting myself though.").level.rank
        < Level.urgent.rank
    )
    asked = ENGINE.triage("I had a spinal injection last week and my back aches")
    assert asked.screening_question and "fever" in asked.screening_question


def test_someone_elses_settled_story_told_for_comparison_does_not_count() -> None:
    told = (
        "My neighbour has a throbbing lump in her tummy and she is seeing her GP about it today. "
        "Does it run in families?"
    )
    assert ENGINE.triage(told).level == Level.self_care
    assert (
        ENGINE.triage("My neighbour has a throbbing lump in her tummy and back pain, what should she do?").level
        == Level.urgent
    )


def test_someone_writing_for_a_partner_is_triaged_as_the_patient() -> None:
    assert ENGINE.triage("my husband can't feel when he needs to pee since this morning").level == Level.emergency


def test_the_writer_comes_back_into_someone_elses_sentence_with_my() -> None:
    """The boy asked; the trousers, and the wetness nobody felt, are the writer's."""
    told = "My little boy asked why my trousers were wet at the park. I hadn't noticed a thing."
    assert ENGINE.triage(told).level == Level.emergency
    # "my" after a preposition or a verb of belief is still inside their story
    assert ENGINE.triage("A girl in my yoga class had cauda equina. My back is a bit tight.").level == Level.self_care
    assert (
        ENGINE.triage("My wife is convinced my back pain is cancer because her mum had it in her spine.").level
        == Level.self_care
    )


def test_what_someone_saw_of_the_writer_is_read_as_the_writers_own() -> None:
    """A partner who noticed the wet chair tells the writer's story; "I hadn't felt a thing" is the sign
    (nothing was felt), not a denial. The net reads both clauses; the present tense stays a denial, and
    their own pronouns keep a story theirs."""
    told = "My wife noticed the chair was wet after I got up. I hadn't felt a thing."
    assert [ENGINE.clause_status(c) for c in clauses(told)] == ["live", "live"]
    assert ENGINE.clause_status("I haven't noticed any numbness") == "denied"
    assert ENGINE.clause_status("my wife found she was wetting herself") is None
    assert ENGINE.triage("My mum noticed her legs were numb years ago. My back is stiff.").level == Level.self_care


def test_family_history_does_not_raise_the_level() -> None:
    assert ENGINE.triage("my mum had breast cancer years ago. I pulled my back gardening.").level == Level.self_care


def test_own_past_cancer_still_matters() -> None:
    assert ENGINE.triage("I had breast cancer 6 years ago and now my back aches").level == Level.urgent


@pytest.mark.parametrize(
    "message",
    [
        "Had chest pain with my back last week, went to A&E, ECG and bloods all fine, they said it was muscular.",
        "I'm 72 with osteoporosis and slipped on Monday. The X-ray showed no fracture, just bruising.",
        "Went to A&E with numbness in my groin. They did an MRI, no cauda equina, and the numbness has gone.",
    ],
)
def test_signs_a_clinician_has_checked_are_asked_about_again_not_escalated(message: str) -> None:
    triage = ENGINE.triage(message)
    assert triage.level == Level.routine, [f.id for f in triage.flags]
    assert any(f.id.endswith("_checked") for f in triage.flags)


CHECKED = RULES.context.checked.examples if RULES.context.checked else None


@pytest.mark.parametrize("message", CHECKED.fire if CHECKED else [])
def test_an_all_clear_is_read_where_a_check_meets_a_clear_result(message: str) -> None:
    assert ENGINE.all_clear(message), f"{message!r} should read as a clinician's all-clear"


@pytest.mark.parametrize("message", CHECKED.quiet if CHECKED else [])
def test_a_pending_abnormal_questioned_or_someone_elses_check_is_no_all_clear(message: str) -> None:
    assert not ENGINE.all_clear(message), f"{message!r} should not read as a clinician's all-clear"


@pytest.mark.parametrize(
    ("message", "flag"),
    [
        (
            "The out-of-hours doctor checked the feeling around my bum and did a bladder scan after I'd been, "
            "all normal, and said it's a bad sciatica.",
            "cauda_equina_checked",
        ),
        (
            "The GP examined me for foot drop, says the strength is normal and it's just the pain making me limp.",
            "progressive_weakness_checked",
        ),
        ("I'm 79. Fell off the kerb, they X-rayed me at A&E and nothing was broken.", "fragility_fracture_checked"),
    ],
)
def test_an_all_clear_told_in_free_words_asks_again(message: str, flag: str) -> None:
    triage = ENGINE.triage(message)
    assert triage.level == Level.routine, [f.id for f in triage.flags]
    assert flag in {f.id for f in triage.flags}


@pytest.mark.parametrize(
    "message",
    [
        "My oncologist went through last month's scan with me: clear, and the back pain isn't linked to my old cancer",
        "Had bloods and an MRI because of my cancer history, oncologist says no spread, it's a disc bulge.",
        "I had prostate cancer. The GP sent me for a scan of my back and it came back normal, wear and tear.",
    ],
)
def test_a_cancer_history_whose_back_was_checked_and_found_benign_is_asked_about_again(message: str) -> None:
    triage = ENGINE.triage(message)
    assert ENGINE.all_clear(message)
    assert triage.level == Level.routine, [f.id for f in triage.flags]
    assert "malignancy_checked" in {f.id for f in triage.flags}


@pytest.mark.parametrize(
    "message",
    [
        "I had bowel cancer 6 years ago and got the all clear at my 5 year check. My back has ached for 3 weeks.",
        "Breast cancer in 2019, scans all clear since. Now my back aches at night and I've lost weight.",
        "Oncologist says no spread on the scan. Since then I have lost a stone without trying.",
        # the verdict is the writer's guess, not the clinician's: the all-clear was of the cancer
        "I had prostate cancer and got the all clear at my last scan. I think I pulled a muscle lifting.",
    ],
)
def test_an_all_clear_of_the_cancer_itself_leaves_its_history_a_risk_factor(message: str) -> None:
    assert ENGINE.triage(message).level.rank >= Level.urgent.rank


@pytest.mark.parametrize(
    "message",
    [
        "ECG and bloods all fine last week, but now I have crushing chest pain",
        "My MRI last year was clear and since yesterday I can't feel my bum when I wipe",
        "I couldn't feel my bum, went to A&E and the scan was clear, but it's come back worse tonight",
        "I had breast cancer 5 years ago and got the all clear, and my back has ached for a month",
        "The scan was clear but since yesterday I can't feel my bum when I wipe",
        "I can't feel my bum when I wipe. My mum had an MRI and it was all clear.",
        "I can't feel my bum when I wipe and I'm waiting for the MRI results, the bloods were normal.",
    ],
)
def test_an_all_clear_does_not_cover_what_is_new_came_back_or_remains_a_risk(message: str) -> None:
    assert ENGINE.triage(message).level.rank >= Level.urgent.rank


def test_typos_are_understood() -> None:
    assert ENGINE.triage("my bladdder feels numb and i have numbess in my groin").level == Level.emergency


def test_a_real_word_with_an_ending_is_not_corrected_into_a_red_flag() -> None:
    """ "shoveling" (American spelling, not in the dictionary) was read as "shivering": a spinal infection.
    A known word with an English ending stays as written; a mistyped red-flag word is still corrected."""
    assert ENGINE.triage("Back hurts from shoveling snow.").level == Level.self_care
    assert ENGINE.triage("Back hurts from shovelling snow.").level == Level.self_care
    assert ENGINE.triage("lost control of my bowles since yesterday").level == Level.emergency


def test_unknown_key_in_a_rule_file_fails_loudly(tmp_path: Path) -> None:
    text = (KNOWLEDGE / "safety" / "triage.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "triage.yaml"
    bad.write_text(
        text.replace("  - id: cauda_equina\n", "  - id: cauda_equina\n    levle: urgent\n", 1), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="levle"):
        load_rule_file(bad)


def test_a_flag_naming_an_unknown_finding_fails_loudly(tmp_path: Path) -> None:
    text = (KNOWLEDGE / "safety" / "triage.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "triage.yaml"
    bad.write_text(text.replace("- [saddle_numbness]", "- [saddle_numbnes]", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="saddle_numbnes"):
        load_rules(bad)


def test_an_engine_that_searches_every_pattern_reads_as_the_one_loaded_from_the_stored_index() -> None:
    """The stored index (`needs_index`) only saves the search at start-up: the answers are the search's own."""
    engine = TriageEngine(ENGINE.rules)  # no index file: every pattern searched
    assert engine.needs_index.searched > 100 and ENGINE.needs_index.complete()
    assert {k: p.needs for k, p in engine._concepts.items()} == {k: p.needs for k, p in ENGINE._concepts.items()}
    assert [c.phrase and c.phrase.needs for c in engine._checks] == [
        c.phrase and c.phrase.needs for c in ENGINE._checks
    ]
    message = "I've had sciatica for 3 weeks, my leg tingles and I'm worried about driving to work. " * 5
    assert engine.triage(message) == ENGINE.triage(message)


def test_an_overdose_told_as_numbers_is_read_by_the_medicine_reader() -> None:
    """Ten 500 mg paracetamol at once is 5 g (the most in one dose is 1 g): overdose advice now, with the
    arithmetic as the evidence a clinician reads."""
    t = ENGINE.triage("I took about 10 of the extra strength 500mg paracetamol this morning in one go")
    assert t.level == Level.emergency
    hit = next(f for f in t.flags if f.id == "medicine_overdose")
    assert "5,000 mg" in hit.evidence
    assert ENGINE.triage("I've been taking ibuprofen 400 every 2 hours for 3 days").level == Level.emergency
    assert ENGINE.triage("Swallowed all my amitriptyline tonight").level == Level.emergency


def test_what_the_medicine_reader_finds_goes_through_the_same_context_analysis() -> None:
    """A question, a denial or someone else's past is not the writer's intake; label-respecting doses
    are not an overdose."""
    for quiet in (
        "what happens if I take 10 paracetamol at once?",
        "I haven't taken 10 paracetamol at once, I only took 2",
        "My flatmate once took a whole pack of ibuprofen years ago and ended up in hospital",
        "2 paracetamol every 4 hours when I need them",
        "co-codamol 30/500, 2 tablets four times a day",
    ):
        assert "medicine_overdose" not in {f.id for f in ENGINE.triage(quiet).flags}, quiet


def test_not_getting_worse_answers_the_weakness_question_no_and_lift_your_foot_is_no_bones_question() -> None:
    question = (
        "Is the weakness getting worse, or are you tripping, catching your foot"
        " or finding it hard to lift your foot or toes?"
    )
    history = [Turn(role="user", content="my foot feels weak"), Turn(role="assistant", content=question)]
    assert ENGINE.asks_about(question).isdisjoint({"fragility_fracture", "major_trauma"})
    for answer in ["it's about the same", "no worse than last week", "it is not getting any worse"]:
        assert "fragility_fracture" not in {f.id for f in ENGINE.triage(answer, history).flags}, answer


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # a feared or believed diagnosis is no sign ...
        ("I'm convinced it's a tumour. It's been 10 days since I dug the veg patch", Level.self_care),
        ("every twinge I think is cancer. back's ached 4 days since I slept funny", Level.self_care),
        ("Scared stiff of a tumour. Just L5 radicular pain on the left.", Level.self_care),
        ("keep thinking it's a blood clot or an aneurysm. just a sore back from moving furniture", Level.self_care),
        ("I panic that it's the nerve thing where you lose control of your bladder", Level.self_care),
        # ... but a sign told beside the fear counts, and so does a clinician's worry or a real history
        ("I'm terrified it's cauda equina, I can't feel my bum when I wipe", Level.emergency),
        ("I'm worried it's cancer because I had breast cancer before and my back hurts at night", Level.urgent),
        ("The consultant is worried it's cancer and has booked a scan", Level.urgent),
        ("The consultant was worried it's cancer and has booked a scan", Level.urgent),
        ("My GP was worried it's cancer", Level.urgent),
        ("I've had cancer and I'm scared it's back", Level.urgent),
    ],
)
def test_a_feared_diagnosis_is_no_sign_but_a_sign_beside_the_fear_is(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # a function told as lost or dwindling is the sign
        ("I no longer have any feeling when I go for a wee", Level.emergency),
        ("there's hardly any feeling down below now", Level.emergency),
        ("I'm not weeing normally since yesterday", Level.emergency),
        ("my wee isn't normal", Level.emergency),
        # a symptom denied, or a function told as working, is no sign
        ("I don't feel numb down below", Level.self_care),
        ("I no longer have numbness in my bum", Level.self_care),
        ("I can feel everything down there and I'm weeing normally", Level.self_care),
        ("I didn't feel any different down below", Level.self_care),
        # the long denial list, and "nothing" before the sign itself
        ("nothing numb down below, wee and poo normal, both legs strong, never had cancer", Level.self_care),
        ("Nah, nothin' numb round me bum, wee's normal, no temperature", Level.self_care),
        # after a comma, "fine" with another part of the body before it is that part's, not a denial
        ("I cannot feel my bum, bladder fine", Level.emergency),
        ("my bum is numb, legs fine", Level.emergency),
        ("I can't feel when I wipe, peeing fine though", Level.emergency),
        ("peeing and bowels are normal and I can feel everything", Level.self_care),
        # "good" for "well", as non-native writers use it, is no denial of a feeling lost
        ("she has breast cancer in the bones and since yesterday she cannot feel her legs good", Level.emergency),
        ("legs good, bladder good, just sore", Level.self_care),
        ("numbness down there, none", Level.self_care),
        # a sign with its own negation, in a clause of the writer's own, is not denied by an earlier one
        ("i dont want to die exactly i just dont want to be here anymore", Level.emergency),
        ("No numbness in the perineum, no change in urinary or bowel function", Level.self_care),
        ("I don't want to die, I just want this pain to stop", Level.self_care),
    ],
)
def test_lost_functions_and_denied_symptoms(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # a sign denied or cleared, then said to be back, counts again
        (
            "the out-of-hours doctor checked me on Saturday for saddle numbness and said it was fine,"
            " but since last night it's come back",
            Level.emergency,
        ),
        ("no numbness down below last week but it's come back since yesterday", Level.emergency),
        ("no numbness down below and it hasn't come back", Level.self_care),
        ("no numbness down below, but the back pain has come back", Level.self_care),
        ("No numbness down below last week. It's come back since yesterday", Level.emergency),
        ("I had numbness down below, it cleared up. Now it's back since this morning", Level.emergency),
        (
            "my bum went numb on the long drive and it went away when I stood up. It's back pain mostly now",
            Level.self_care,
        ),
        # an old, unchanged sign is no news; a change told after it is
        (
            "My left foot's been slightly weak since a disc op 8 years ago, no different now than it was then",
            Level.self_care,
        ),
        ("my foot has been weak for years, has not changed at all, but since yesterday it's dragging", Level.urgent),
        ("Had a temperature last week with a cold, it's gone now, but my back's still stiff", Level.self_care),
        # the ordinary ache told after an all-clear is not the sign back
        (
            "A&E x-rayed my back after the car crash yesterday, nothing broken. Stiff and sore today, OK to walk?",
            Level.routine,
        ),
        ("The scan was clear but since yesterday I can't feel my bum.", Level.emergency),
        # named illnesses that are no fever now
        ("I had glandular fever at 15. Back's sore after decorating", Level.self_care),
        ("hay fever is awful this week and my back aches from sneezing", Level.self_care),
    ],
)
def test_signs_back_after_a_denial_or_all_clear_and_fever_lookalikes(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # someone else's story, told the way people do ("me mam", "my nans mate", "my dog walker friend")
        ("Me mam had the cancer in her spine, God rest her. Mine's only a bad back from lifting.", Level.self_care),
        ("my nans mate had cancer in her spine n it started as back ache. mine was rugby tho", Level.self_care),
        ("My dog walker friend had a burst aneurysm and survived! What back pain symptoms mean 999?", Level.self_care),
        ("A colleague has foot drop from her back and she's off for surgery. I just ache a bit.", Level.self_care),
        # ... but a sign happening to them now is still an emergency
        ("me mam can't feel her legs since this morning and she's wet herself", Level.emergency),
        ("my work friend can't feel her legs since this morning", Level.emergency),
    ],
)
def test_other_peoples_stories_in_everyday_words(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # someone else's emergency already in hand, while the writer asks about their own back
        (
            "My husband's in A&E tonight with chest pains so I'm stuck in a chair. Stretches for my own sciatica?",
            Level.self_care,
        ),
        (
            "My flatmate's at A&E with numbness down below. I'm fine, but my back's sore. Heat or ice?",
            Level.self_care,
        ),
        (
            "My dad's on chemo and had a temperature, the nurse told us to bring him in so we're here now.",
            Level.self_care,
        ),
        # ... but news after a "but", a carer asking what to do, or someone not yet seen is theirs to act on
        ("My mum is in hospital but tonight she can't feel her legs", Level.emergency),
        # ... and a sign told in its own clause after the stay in hospital is news, not in hand
        ("My dad ended up in hospital last night, he cannot feel his legs since this morning", Level.emergency),
        ("My dad's in hospital, he can't feel his legs since this morning so I'm stuck at home", Level.emergency),
        ("my mum is in er a lot of pain and she cannot feel her legs since this morning", Level.emergency),
        (
            "my mother has ovarian cancer she's under the hospital and since this morning she can't feel her legs"
            " properly and she's wet herself what do I do",
            Level.emergency,
        ),
        ("My mum is seeing the GP tomorrow but tonight she's lost control of her bladder", Level.emergency),
        (
            "my dad's seeing the doctor tomorrow, he has a fever and his back is agony and he's on chemo",
            Level.emergency,
        ),
        ("My wife's in A&E with chest pain and I've got chest pain too now", Level.emergency),
    ],
)
def test_someone_elses_emergency_in_hand_is_theirs_but_news_and_a_carers_plea_are_not(
    message: str, expected: Level
) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # "intact" is a normal finding, and a hedge before a "but" does not take back the denial after it
        ("Saddle sensation intact, bladder and bowels normal. Just L5 radicular pain on the left.", Level.self_care),
        ("it's hard to tell what's normal down there tbh, but no numbness and wee is normal", Level.self_care),
        ("not sure if I've had any numbness down there", Level.emergency),
        # straining to start, in clinical words
        ("L4/5 herniation. Today I had to Valsalva to initiate micturition.", Level.emergency),
    ],
)
def test_normal_findings_hedges_and_clinical_hesitancy(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # an age told as a birth year is the age this year (82 and 75 here, from 2026 on)
        ("I was born in 1944. Coughing fit on Wednesday and something went in my back", Level.urgent),
        ("Born 1951, slipped on the ice yesterday and landed on my bum, very sore low down", Level.urgent),
        ("My dad (born 1938) slipped on the stairs yesterday, now his back is agony", Level.urgent),
        ("I was born in 1990, coughed and my back twinged", Level.self_care),
        ("my son was born in 2019 and I hurt my back lifting him", Level.self_care),
    ],
)
def test_an_age_told_as_a_birth_year_counts(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # crosses and ticks leading a list's items: each item read on its own, a cross a "no"
        ("❌ numb bum ❌ wee problems ❌ poo problems ❌ fever ❌ weak legs. Just a very sore back!", Level.self_care),
        ("✗ fever ✗ weight loss ✗ leg weakness ✓ numb when I wipe", Level.emergency),
        ("hi\n❌ fever\n✅ numb bum", Level.emergency),
        # a list's bare "no" after each item denies it
        (
            "- numbness down below: no\n- bladder: normal\n- bowels: normal\n- fever: no\n- weakness: no",
            Level.self_care,
        ),
        ("my bum is numb no idea why", Level.emergency),
    ],
)
def test_a_denial_list_of_crosses_or_bare_noes_denies_each_item(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


def test_a_yes_the_writer_takes_back_with_a_denial_is_a_no() -> None:
    asked = (
        "Before I suggest anything, a few quick safety checks: have you noticed any numbness or tingling between"
        " your legs or around your bottom? Any new problems passing urine or controlling your bladder or bowels?"
    )
    history = [
        Turn(role="user", content="my back's been killing me"),
        Turn(role="assistant", content=asked),
        Turn(role="user", content="yes"),
        Turn(
            role="assistant",
            content="Just to check, yes to which? Numbness around your bottom, or a change in your bladder?",
        ),
    ]
    taken_back = ENGINE.triage("sorry no, I meant yes it's killing me lol. none of those things", history)
    assert taken_back.level == Level.self_care
    # a take-back without a denial asks again instead of escalating
    asked_again = ENGINE.triage("sorry, I misread that", history)
    assert asked_again.level == Level.routine and asked_again.screening_question
    # and a yes that stands is still the emergency
    assert ENGINE.triage("yes, the numbness", history).level == Level.emergency


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # a history stays a history when told as over: cancer that has "been fine ever since" is still a risk
        ("I had breast cancer in 2016 and have been fine ever since. Now my back aches at night.", Level.urgent),
        # a sign long ago that the writer has been fine from since is over...
        ("I once took too many paracetamol by accident back in uni (2008), was fine.", Level.self_care),
        ("Ten years ago I couldn't feel my bum, I'm fine now.", Level.self_care),
        # ... but not when it is happening again, nor a dose taken today
        ("years ago i lost control of my bladder and it happened again yesterday", Level.emergency),
        ("years ago i lost control of my bladder and was fine until yesterday when it happened again", Level.emergency),
        ("I took 20 paracetamol this morning but I'm fine now", Level.emergency),
    ],
)
def test_what_is_over_and_what_is_still_there(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # a denial word must be a whole word: the "ok" in "took", "shook" or "look" denies nothing
        ("my bum went numb this morning, took me by surprise", Level.emergency),
        ("can't feel my bum, shook me up", Level.emergency),
        ("doubled my pregabalin last nite + took diazepam 2 sleep, proper spaced out n dizzy", Level.emergency),
        ("numbness down there, none", Level.self_care),
        # a history is not denied by the writer being fine since
        ("I had breast cancer years ago, fine since, now new back pain", Level.urgent),
        ("cancer: none. just a sore back", Level.self_care),
        # advice to watch for a sign is no sign; the writer's own report after it is
        ("My physio mentioned foot drop as something to look out for. What does that look like?", Level.self_care),
        ("my physio said to watch out for numbness and now I can't feel my bum", Level.emergency),
        ("My physio told me to watch for foot drop and I've noticed my foot slapping since yesterday", Level.urgent),
        # a family's loss, and a baby on the bladder, are no signs of the writer's
        ("Spinal cancer took my uncle, but my own back pain is a disc on the MRI", Level.self_care),
        ("32 weeks and constantly needing a wee, baby's head is sat on my bladder. Safe stretches?", Level.routine),
    ],
)
def test_whole_word_denials_histories_and_advice_to_watch(message: str, expected: Level) -> None:
    assert ENGINE.triage(message).level == expected


@pytest.mark.parametrize(
    ("history", "answer"),
    [
        ("Do you have any numbness or tingling between your legs, around your bottom or your genitals?", "\U0001f44d"),
        ("Are you having any trouble controlling or feeling your bladder or bowels?", "\u2705"),
    ],
)
def test_a_lone_tick_or_thumb_answers_a_screening_question_yes(history: str, answer: str) -> None:
    turns = [Turn(role="user", content="my sciatica has flared up again"), Turn(role="assistant", content=history)]
    assert ENGINE.triage(answer, turns).level == Level.emergency
    assert ENGINE.triage("\u274c", turns).level == Level.self_care


@pytest.mark.parametrize(
    "message",
    [
        "Screening: saddle anaesthesia - no. Bladder/bowel change - no. Fever - no. Cancer hx - no. Trauma - no.",
        "Does sciatica in both legs mean something serious? Mine has only ever been the right.",
        "Is chest pain with back pain always a heart attack? Asking for a pub quiz.",
        "My mate broke his back in a car crash years ago and he's been telling me horror stories. I pulled a muscle.",
        "Work has been at fever pitch all month and my shoulders are like concrete.",
        "Got a crushing deadline on Friday and my lower back aches by the afternoon.",
        "My first attempt at the bridge exercise was a total car crash, my hamstrings cramped.",
    ],
)
def test_checklists_general_questions_others_stories_and_figures_of_speech_raise_nothing(message: str) -> None:
    assert ENGINE.triage(message).level.rank < Level.urgent.rank, [f.id for f in ENGINE.triage(message).flags]


@pytest.mark.parametrize(
    "message",
    [
        "im on kemo and got a temprature of 38.5 and my back hurts",
        "my bak is realy bad and i cant feal wen i need a pooo and ive messd my self twise",
        "I'm 81, my waterworks have gone haywire: I don't know I need to go until I've already gone",
        "When the pain gets too much I cut my thighs, it's the only thing that takes my mind off it",
        "ngl been having dark thoughts lately like whats the point of even being here",
        "my bladder went back to normal but now I can't feel my bum",
    ],
)
def test_signs_told_by_sound_by_consequence_or_after_a_recovery_still_escalate(message: str) -> None:
    assert ENGINE.triage(message).level == Level.emergency, [f.id for f in ENGINE.triage(message).flags]


def test_saddle_numbness_after_a_ride_that_settled_is_asked_about_not_999() -> None:
    told = "Did a 100k sportive on Sunday and had numb bits in my saddle area for an hour after, fine by the evening."
    triage = ENGINE.triage(told)
    assert triage.level == Level.self_care and triage.screening_question


@pytest.mark.parametrize(
    "message",
    [
        "At A&E with chest and back pain they did an ECG and bloods, all normal, and the chest pain has settled.",
        "gp checked the foot drop thing i was worried about, says strength is totally normal, just sciatica.",
        "The physio tested my leg strength today and said it's normal, the heaviness is just the pain.",
        "I had a bone scan after my prostate cancer treatment. Oncologist phoned today: no spread, it's a facet joint.",
    ],
)
def test_a_clinicians_check_in_more_words_asks_again_rather_than_escalating(message: str) -> None:
    triage = ENGINE.triage(message)
    assert triage.level.rank <= Level.routine.rank, [f.id for f in triage.flags]


@pytest.mark.parametrize(
    ("message", "level"),
    [
        ("Had a bit of a limp since a motorbike smash in '99, nowt's changed.", Level.self_care),
        ("I've had a foot drop since 2015 and wear a splint, it's unchanged.", Level.self_care),
        ("my old foot drop is unchanged, just a stiff back", Level.self_care),
        ("my foot drop is unchanged since the op 3 years ago", Level.self_care),
        # "unchanged" is no denial: a foot drop that began yesterday and has not got better is still new
        ("my foot drop since yesterday is unchanged", Level.urgent),
        ("my foot started dragging yesterday and it's unchanged this morning", Level.urgent),
        ("fell off a ladder years ago and again yesterday, my back is agony", Level.emergency),
        ("I fell off the roof this morning and my back hurts", Level.emergency),
        ("I crashed my motorbike in 70 mph traffic this morning and my back hurts", Level.emergency),
    ],
)
def test_an_accident_or_deficit_long_past_and_unchanged_is_history_unless_it_happened_again(
    message: str, level: Level
) -> None:
    assert ENGINE.triage(message).level == level


@pytest.mark.parametrize(
    "message",
    [
        "can u get cancer in ur back at 15?? its for a biology project not me, im fine",
        "Can back pain with chest pain be your heart? Just curious, I don't have any chest pain myself.",
    ],
)
def test_a_question_made_general_by_the_sentence_after_it_raises_nothing(message: str) -> None:
    assert ENGINE.triage(message).level == Level.self_care


@pytest.mark.parametrize(
    "message",
    [
        # the question is the writer's own, or a sign follows the "just curious"
        "Can I still walk with a numb bum? just wondering",
        "Can numbness down below be serious? Just curious. I can't feel my bum since this morning.",
    ],
)
def test_a_question_about_oneself_or_followed_by_a_sign_still_counts(message: str) -> None:
    assert ENGINE.triage(message).level == Level.emergency


def test_asking_to_exercise_again_after_an_all_clear_is_no_relapse() -> None:
    history = [
        Turn(role="user", content="my bum is numb on one side and the sciatica is awful"),
        Turn(role="assistant", content="Please go to A&E now or call 999."),
    ]
    cleared = ENGINE.triage("they scanned me and it's fine!! can I do my exercises again?", history)
    assert cleared.level.rank < Level.urgent.rank, [f.id for f in cleared.flags]
    back = ENGINE.triage("they scanned me and it was fine but it's gone numb again tonight", history)
    assert back.level == Level.emergency


@pytest.mark.parametrize(
    ("message", "level"),
    [
        ("pins and needles in my right foot but nowhere near my privates, toilet stuff normal", Level.self_care),
        ("I fractured a vertebra in 2016 after a fall and it healed, bone treatment since.", Level.self_care),
        ("I had some leaking after my first baby and it sorted completely", Level.self_care),
        # the other leg named: sciatica in both legs
        ("It was only the left, now it's gone into the right leg too and both soles are numb", Level.emergency),
    ],
)
def test_places_denied_histories_healed_and_the_other_leg_named(message: str, level: Level) -> None:
    assert ENGINE.triage(message).level == level


def test_a_count_answering_the_medicine_just_named_is_read_as_an_overdose() -> None:
    history = [
        Turn(role="user", content="how many co-codamol can I take, the pain is unreal"),
        Turn(role="assistant", content="Have you taken any already today?"),
    ]
    assert ENGINE.triage("took 20", history).level == Level.emergency
    assert ENGINE.triage("took 2", history).level == Level.self_care


@pytest.mark.parametrize(
    "message",
    [
        "The thing I wanted to ask about is that my right foot doesn't clear the ground properly now",
        "when I had a shower last night I couldn't really feel the water between my legs",
    ],
)
def test_a_sign_told_inside_a_long_friendly_question_still_counts(message: str) -> None:
    assert ENGINE.triage(message).level.rank >= Level.urgent.rank


def test_being_asked_about_a_sign_is_still_no_report_of_it() -> None:
    message = "Student q: for a pt who denies saddle anaesthesia, is there still a reason to ask about sexual function?"
    assert ENGINE.triage(message).level.rank < Level.urgent.rank


@pytest.mark.parametrize(
    ("message", "level"),
    [
        # the next sentence settles another part of the story, not the sign told before it
        ("My foot started dragging this week. The leg pain has settled a lot.", Level.urgent),
        ("My foot started dragging this week. The back has settled a lot.", Level.urgent),
        ("I've wet myself twice today. The bladder infection cleared up last month.", Level.emergency),
    ],
)
def test_a_next_sentence_that_settles_something_else_does_not_explain_a_new_sign_away(
    message: str, level: Level
) -> None:
    assert ENGINE.triage(message).level == level
