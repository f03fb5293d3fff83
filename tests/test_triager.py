"""The learned net beside the rules: the combination policy, the shipped weights, reproducible training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.guardrails.triage import load_engine
from assistant.guardrails.triage_net import ASIDE, Memory, NetSignal, NetWeights, RedFlagNet, clauses, memory_path
from assistant.guardrails.triager import Triager, load_net_policy, weights_path
from assistant.models import Level, Triage, Turn
from evals import triage_training as T

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
TRIAGER = Triager(load_engine(KNOWLEDGE), load_net_policy(KNOWLEDGE))
POLICY = TRIAGER.policy


def signal(**live: float) -> NetSignal:
    fams = list(POLICY.families)
    return NetSignal(
        live={f: live.get(f, 0.0) for f in fams},
        denied={f: 0.0 for f in fams},
        evidence={f: "the clause" for f in fams},
    )


def combine(message: str, sig: NetSignal, history: list[Turn] | None = None) -> Triage:
    return TRIAGER.combine(TRIAGER.engine.triage(message, history), sig, message, history)


def test_a_strong_signal_the_rules_missed_escalates_to_the_familys_flag() -> None:
    t = combine("my husband noticed the chair was wet and I had not felt a thing", signal(cauda_equina=0.99))
    assert t.level == Level.emergency
    assert [(f.id, f.source) for f in t.flags][:1] == [("cauda_equina", "net")]
    assert t.screening_question is None  # an emergency reply does not ask, it sends


def test_a_strong_signal_from_a_question_asks_with_the_advice_instead_of_escalating() -> None:
    # the writer is asking ("how many paracetamol is too many?"), not telling: the family's question
    # and its safety advice, not 999
    fams = list(POLICY.families)
    asked = NetSignal(
        live={f: 1.0 if f == "overdose" else 0.0 for f in fams},
        denied={f: 0.0 for f in fams},
        evidence={f: "How many paracetamol is too many?" for f in fams},
    )
    t = combine("How many paracetamol is too many? I just want to know where the line is.", asked)
    assert t.level == Level.routine
    assert t.screening_question == POLICY.families["overdose"].question
    assert t.safety_advice == POLICY.families["overdose"].advice


def test_a_moderate_signal_asks_the_familys_question_with_its_advice() -> None:
    ask = POLICY.thresholds["cauda_equina"].ask
    t = combine("bit of an odd feeling today", signal(cauda_equina=ask + 0.001))
    assert t.level == Level.routine
    assert t.screening_question == POLICY.families["cauda_equina"].question
    assert t.safety_advice == POLICY.families["cauda_equina"].advice


@pytest.mark.parametrize(
    ("message", "flag"),
    [
        ("my right leg keeps giving way on the stairs", "progressive_weakness"),  # rules
        ("my leg just isn't doing what I tell it to any more", "progressive_weakness"),  # the net
        ("I've had shivers and a temperature since the epidural last week", "spinal_infection"),
    ],
)
def test_a_raised_flag_that_can_lead_to_an_emergency_asks_the_cauda_equina_question_too(
    message: str, flag: str
) -> None:
    """A weak leg, an infection or a cancer (`also_ask` in net.yaml) is an emergency with cauda equina's
    signs: below an emergency the reply asks about them, with what to do."""
    family = next(name for name, fam in POLICY.families.items() if flag in fam.flags)
    t = combine(message, signal(**{family: 0.999}))
    assert t.level == Level.urgent and flag in [f.id for f in t.flags]
    ce = POLICY.families["cauda_equina"]
    assert ce.question in (t.screening_question or "") and ce.advice in (t.safety_advice or "")
    # the rules alone (no net loaded, or a message too long for it) ask it too
    if flag == "progressive_weakness" and "giving way" in message:
        alone = TRIAGER.triage(message)
        assert alone.level == Level.urgent and ce.question in (alone.screening_question or "")


def test_the_cauda_equina_question_is_not_asked_again_once_denied_or_answered_no() -> None:
    ce = POLICY.families["cauda_equina"].question
    denied = combine("my right leg keeps giving way, no problems with my bladder or bowels", signal())
    assert denied.level == Level.urgent and ce not in (denied.screening_question or "")
    said_no = [Turn(role="user", content="my back hurts"), Turn(role="assistant", content=f"One question: {ce}")]
    t = combine("no. but my right leg keeps giving way on the stairs", signal(), said_no)
    assert t.level == Level.urgent and ce not in (t.screening_question or "")
    # an emergency sends, it does not ask
    assert combine("my legs keep giving way and I've wet myself without knowing", signal()).screening_question is None


def test_a_family_the_writer_denies_is_not_asked() -> None:
    ask = POLICY.thresholds["infection"].ask
    t = combine("no fever or temperature at all, just a stiff back", signal(infection=ask + 0.001))
    assert t.screening_question is None and t.level == Level.self_care


def test_a_question_answered_no_is_not_asked_again_and_a_yes_escalates() -> None:
    q = POLICY.families["heart_aorta"].question
    ask = POLICY.thresholds["heart_aorta"].ask
    said_no = [Turn(role="user", content="my back aches"), Turn(role="assistant", content=f"One question: {q}")]
    assert combine("no, none of that", signal(heart_aorta=ask + 0.001), said_no).screening_question is None
    t = combine("yes, a bit tight in the chest", signal(), said_no)
    assert t.level == Level.emergency and t.flags[0].id == "cardiac_or_aortic"


def test_the_overdose_question_is_asked_only_when_a_medicine_is_in_the_conversation() -> None:
    ask = POLICY.thresholds["overdose"].ask
    sig = signal(overdose=ask + 0.001)
    assert combine("Do you take Bupa?", sig).screening_question is None
    assert combine("How many bird dogs should I be doing?", sig).screening_question is None
    asked = combine("How many 500mg paracetamol can I take in a day?", sig).screening_question
    assert asked == POLICY.families["overdose"].question
    assert combine("Twelve in a day, is that too many?", sig).screening_question == asked
    # a strong signal still escalates, medicine named or not
    assert combine("I took them all", signal(overdose=0.999)).level == Level.emergency


def test_a_yes_taken_back_later_no_longer_escalates() -> None:
    q = POLICY.families["heart_aorta"].question
    said_yes = [
        Turn(role="user", content="my back aches"),
        Turn(role="assistant", content=f"One question: {q}"),
        Turn(role="user", content="yes"),
        Turn(role="assistant", content=f"Just to check: {q}"),
    ]
    assert combine("sorry, I misread that, no chest pain at all", signal(), said_yes).level != Level.emergency
    assert combine("sorry no, I meant yes the back aches. none of those", signal(), said_yes).level != Level.emergency
    assert combine("yes, it's still tight", signal(), said_yes).level == Level.emergency


def test_a_question_in_other_words_about_a_familys_signs_is_answered_too() -> None:
    """ "Any tightness in your chest with it?" asks the heart family's question in other words: "bit yeah"
    escalates, "no, nothing like that" is not asked again."""
    asked = [
        Turn(role="user", content="my upper back really hurts today and I feel a bit off"),
        Turn(
            role="assistant", content="Sorry to hear that. Is there any pain or tightness in your chest along with it?"
        ),
    ]
    yes = combine("bit yeah", signal(), asked)
    assert yes.level == Level.emergency and yes.flags[0].id == "cardiac_or_aortic"
    ask = POLICY.thresholds["heart_aorta"].ask
    assert combine("no, nothing like that", signal(heart_aorta=ask + 0.001), asked).screening_question is None


def test_a_question_that_points_back_at_the_sentence_before_it_is_asked_about_that_sentence() -> None:
    """ "... thoughts of harming themselves. Have you had any thoughts like that?": "now and then, yeah"
    answers the self-harm question; the same question after a sentence about sleep answers nothing."""
    said = "When pain goes on, some people have thoughts of harming themselves. Have you had any thoughts like that?"
    asked = [Turn(role="user", content="been really down lately"), Turn(role="assistant", content=said)]
    assert combine("now and then, yeah. not planning anything", signal(), asked).level == Level.emergency
    about_sleep = [
        Turn(role="user", content="been really down lately"),
        Turn(role="assistant", content="Some people sleep badly with pain. Have you had any nights like that?"),
    ]
    assert combine("now and then, yeah", signal(), about_sleep).level != Level.emergency


def test_the_net_never_lowers_what_the_rules_raised() -> None:
    rules_only = TRIAGER.engine.triage("I can't feel my bum when I wipe")
    assert combine("I can't feel my bum when I wipe", signal()).level == rules_only.level == Level.emergency


def test_a_self_harm_signal_always_shows_the_crisis_lines() -> None:
    ask = POLICY.thresholds["self_harm"].ask
    t = combine("rough few weeks, to be honest", signal(self_harm=ask + 0.001))
    assert t.safety_advice is not None and "{crisis_instruction}" in t.safety_advice
    # told in words the rules know, it is the emergency itself
    assert combine("some nights I think about not being around", signal()).level == Level.emergency


def denied_signal(family: str, p: float, clause: str) -> NetSignal:
    sig = signal()
    sig.denied[family] = p
    sig.denied_evidence[family] = clause
    return sig


def test_a_negation_word_that_denies_none_of_the_familys_signs_still_asks() -> None:
    # "not" is a negation word, but the clause says the writer may not be able to go on
    message = "not sure I can keep going like this tbh"
    (unit,), _ = TRIAGER.units(message)
    assert unit.status == "denied"  # read apart, as every clause with a negation word is
    ask = POLICY.thresholds["self_harm"].ask
    t = combine(message, denied_signal("self_harm", ask + 0.001, unit.text))
    assert t.screening_question == POLICY.families["self_harm"].question
    assert t.safety_advice is not None and "{crisis_instruction}" in t.safety_advice


def test_a_clause_that_denies_the_familys_own_signs_is_still_not_asked_about() -> None:
    message = "no thoughts of hurting myself, just fed up with the pain"
    ask, escalate = POLICY.thresholds["self_harm"].ask, POLICY.thresholds["self_harm"].escalate
    t = combine(message, denied_signal("self_harm", (ask + escalate) / 2, "no thoughts of hurting myself"))
    assert t.screening_question is None and t.level == Level.self_care


def test_the_net_never_reads_hypothetical_or_other_peoples_clauses() -> None:
    """They are set aside: only a crisis family reads them, each on its own."""
    units, _ = TRIAGER.units("what are the signs of cauda equina? my friend had it years ago. my back is stiff")
    assert [u.text for u in units if u.status != ASIDE] == ["my back is stiff"]
    assert len([u for u in units if u.status == ASIDE]) == 2


def test_a_crisis_family_asks_about_a_death_wish_told_as_a_hypothetical() -> None:
    """ "If a bus hit me I'd be relieved": the rules set the clause aside as hypothetical; self-harm (a
    crisis family) still reads it, and no other family does."""
    fams = list(POLICY.families)
    sig = NetSignal(
        live={f: 0.0 for f in fams},
        denied={f: 0.0 for f in fams},
        evidence={},
        aside={f: 0.9 if f in ("self_harm", "cauda_equina") else 0.0 for f in fams},
    )
    message = "if something happened to me on the motorway I'd be fine with it"
    out = TRIAGER.combine(TRIAGER.engine.triage(message), sig, message)
    assert {f.id for f in out.flags} == {"self_harm_check"}
    # the accident the writer would welcome, in words the rules know, is the emergency itself
    assert TRIAGER.engine.triage("if a bus hit me tomorrow i would be relieved").level == Level.emergency


def test_a_clause_that_carries_a_denial_is_read_apart() -> None:
    units, _ = TRIAGER.units("no fever, but I can't feel the toilet paper when I wipe")
    assert {u.status for u in units} == {"denied", "live"}


def test_clauses_split_where_a_new_statement_starts() -> None:
    assert clauses("Nothing numb down below; wee normal, but my leg is weak") == [
        "Nothing numb down below",
        "wee normal",
        "but my leg is weak",
    ]


def test_every_family_points_at_flags_the_rules_have() -> None:
    for fam in POLICY.families.values():
        assert {fam.flag, *fam.flags} <= TRIAGER.engine.rules.source.flag_ids


def test_the_shipped_weights_match_their_training_data() -> None:
    """Fails when a triage dataset, a rule example or the family list changed without retraining.

    (`physio-assistant train-triage`)
    """
    path = weights_path(KNOWLEDGE)
    assert path.is_file(), "knowledge/safety/triage_net.json is missing: run `physio-assistant train-triage`"
    weights = NetWeights.load(path)
    assert weights.data_hash == T.training_hash(TRIAGER, weights.model_name), (
        "stale triage net: run `physio-assistant train-triage` and commit"
    )
    assert weights.families == list(POLICY.families)


@pytest.mark.slow
def test_training_is_reproducible(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """Same data, same weights: two trainings of a small set give identical read-outs."""
    data = tmp_path / "datasets"
    data.mkdir()
    rows = [
        json.loads(line) for line in (T.DATASETS / "triage_round10.jsonl").read_text(encoding="utf-8").splitlines()[:60]
    ]
    (data / "triage_small.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    first = T.train(TRIAGER, embedder.encode, embedder.model_name, data, say=lambda m: None)
    second = T.train(TRIAGER, embedder.encode, embedder.model_name, data, say=lambda m: None)
    assert np.allclose(first.weights.weights, second.weights.weights, atol=1e-5)
    assert first.thresholds == second.thresholds
    assert first.weights.data_hash == second.weights.data_hash
    assert first.weights.memory is not None and second.weights.memory is not None
    assert np.array_equal(first.weights.memory.vectors, second.weights.memory.vectors)
    assert first.weights.memory.data_hash == first.weights.data_hash
    shutil.rmtree(data)


def test_the_memory_scores_a_near_copy_of_an_example_by_its_families() -> None:
    X = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], np.float32)
    Y = np.array([[1, 0], [0, 1], [0, 0]])
    memory = Memory.of(X, Y)
    near_first = memory.score(np.array([[0.95, 0.05, 0.0, 0.0]], np.float32))[0]
    assert near_first[0] > 0.9 and near_first[1] < 0.1
    assert memory.score(np.zeros((0, 4), np.float32)).shape == (0, 2)


def test_a_missing_or_stale_memory_is_a_clear_error_not_a_quiet_change_of_scores(tmp_path: Path) -> None:
    """The bars in net.yaml were chosen for the read-out and its memory together: without it, or with one
    from other training data, the net's scores would mean something else."""
    weights = NetWeights(
        ["a"],
        np.ones((1, 4), np.float32),
        np.zeros(1, np.float32),
        "hash-1",
        "m",
        memory=Memory.of(np.eye(4), np.eye(4, 1), "hash-1"),
    )
    path = tmp_path / "triage_net.json"
    weights.save(path)
    assert NetWeights.load(path).memory is not None
    Memory.of(np.eye(4), np.eye(4, 1), "hash-2").save(memory_path(path))
    with pytest.raises(ValueError, match="train-triage"):
        NetWeights.load(path)
    memory_path(path).unlink()
    with pytest.raises(ValueError, match="missing or unreadable.*train-triage"):
        NetWeights.load(path)


def test_the_shipped_net_has_its_memory() -> None:
    weights = NetWeights.load(weights_path(KNOWLEDGE))
    assert weights.memory is not None
    assert weights.memory.vectors.shape == (len(weights.memory.labels), weights.weights.shape[1])


def test_the_net_does_not_ask_about_a_message_that_is_not_about_health() -> None:
    ask = POLICY.thresholds["cancer"].ask
    rules = TRIAGER.engine.triage("what's the best recipe for lasagne?")
    t = TRIAGER.combine(rules, signal(cancer=ask + 0.001), "what's the best recipe for lasagne?", on_topic=False)
    assert t.screening_question is None and t.level == Level.self_care


def test_a_self_harm_signal_is_asked_about_even_without_a_health_word() -> None:
    """A person in crisis rarely mentions their back: the crisis family asks about any message."""
    message = "sorting a few things out this week"
    ask = POLICY.thresholds["self_harm"].ask
    t = TRIAGER.combine(TRIAGER.engine.triage(message), signal(self_harm=ask + 0.001), message, on_topic=False)
    assert t.screening_question == POLICY.families["self_harm"].question
    assert t.safety_advice is not None and "{crisis_instruction}" in t.safety_advice


def test_the_crisis_question_comes_before_the_answer(assistant) -> None:  # type: ignore[no-untyped-def]
    sig = signal(self_harm=POLICY.thresholds["self_harm"].ask + 0.001)
    triager = assistant.triager
    original = triager.signal
    triager.signal = lambda message, history=None: sig  # the net's read-out pinned; rules, reply real
    try:
        reply = assistant.reply("what stretches help sciatica when sitting at a desk?")
    finally:
        triager.signal = original
    intro = assistant.policy.file.screening_intro  # the urgent place: first, before any answer
    assert reply.answer.startswith(f"{intro} {POLICY.families['self_harm'].question}")
    assert reply.sources  # and the question about stretches is still answered


def test_a_full_embedding_cache_never_loses_a_text_the_message_needs() -> None:
    # a tiny cache that must be cleared in the middle of a call, with a text it already held
    def encode(texts: list[str]) -> np.ndarray:
        return np.array([[float(len(t))] * 384 for t in texts], np.float32)

    weights = NetWeights.load(weights_path(KNOWLEDGE))
    net = RedFlagNet(weights, encode, cache_size=2)
    net.vectors(["a"])
    out = net.vectors(["a", "bb", "ccc"])
    assert out[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert net.cached("ccc") is not None


def test_each_familys_ask_bar_asks_at_most_its_own_share_of_plain_messages() -> None:
    """A family's bar depends on its own scores only: how well the net reads another family does not
    move it (the greedy shared budget it replaced moved bars by up to 0.24 on 3% less data)."""
    plain = [T.Example(f"p{i}", "s", "m", [], frozenset(), "self_care", False) for i in range(200)]
    pos = [T.Example(f"a{i}", "s", "m", [], frozenset({"a"}), "urgent", False) for i in range(20)]
    examples = plain + pos
    shares = {"a": 0.05, "b": 0.05}
    bars = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        probs = np.zeros((len(examples), 2), np.float32)
        probs[:200, 0] = np.linspace(0.0, 0.99, 200)
        probs[200:, 0] = 0.9
        probs[:200, 1] = rng.uniform(0.0, 0.99, 200)  # another family, read differently each time
        got = T.ask_thresholds(examples, probs, ["a", "b"], {"a": 0.99, "b": 0.99}, shares)
        assert (probs[:200, 0] >= got["a"]).mean() <= shares["a"]
        assert (probs[:200, 1] >= got["b"]).mean() <= shares["b"]
        bars.append(got["a"])
    assert bars[0] == bars[1]


def test_each_bar_is_the_mean_of_the_bars_chosen_on_each_fold_split() -> None:
    """One split's bars are one draw of the folds: the shipped bar is the mean over `SPLITS` draws, so a
    retrain that reshuffles the folds moves it little."""
    per_split = [{"a": {"escalate": 0.9, "ask": 0.3}}, {"a": {"escalate": 0.8, "ask": 0.5}}]
    assert T.mean_bars(per_split) == {"a": {"escalate": 0.85, "ask": 0.4}}
    assert T.SPLITS >= 3


def test_a_crisis_family_gets_the_largest_share_then_emergency_then_urgent() -> None:
    shares = T.family_shares(TRIAGER)
    assert shares["self_harm"] == T.CRISIS_PLAIN_SHARE > shares["cauda_equina"] == T.EMERGENCY_PLAIN_SHARE
    assert shares["cauda_equina"] > shares["infection"] == T.URGENT_PLAIN_SHARE
    assert sum(shares.values()) <= T.ASK_BUDGET + 0.01  # each family's share counted whole


def test_the_shipped_ask_bars_stay_within_the_escalate_bars() -> None:
    """An ask bar above zero (at zero every message is asked) and below its escalate bar; an escalate bar
    of 0.6 at least (a net signal that escalates on its own must be a strong one)."""
    for name, t in POLICY.thresholds.items():
        assert 0.002 <= t.ask <= t.escalate, name
        assert t.escalate >= 0.6, name


def test_a_clause_read_on_its_own_scores_as_its_doubled_features() -> None:
    """`clause_probabilities` is the shortcut for rows [c, c]: the same numbers as the long way."""
    weights = NetWeights.load(weights_path(KNOWLEDGE))
    rng = np.random.default_rng(0)
    C = rng.normal(size=(5, weights.weights.shape[1] // 2)).astype(np.float32)
    long_way = weights.probabilities(np.concatenate([C, C], axis=1))
    assert np.allclose(weights.clause_probabilities(C), long_way, atol=1e-4)
