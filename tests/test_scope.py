"""The scope read-out: trained on its own texts, shipped fresh, and deciding by meaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.content import load_knowledge
from assistant.scope import ScopeWeights, scope_path
from evals import scope_training as S

KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"


def test_the_shipped_scope_read_out_matches_its_training_data() -> None:
    """Fails when an article's questions or phrasings, or a training row, changed without `train-scope`."""
    path = scope_path(KNOWLEDGE)
    assert path.is_file(), "knowledge/language/scope_model.json is missing: run `physio-assistant train-scope`"
    weights = ScopeWeights.load(path)
    items = S.load_labelled(load_knowledge(KNOWLEDGE))
    assert weights.data_hash == S.data_hash(items, weights.model), (
        "stale scope read-out: run `physio-assistant train-scope` and commit"
    )
    assert 0.0 < weights.threshold < 1.0 and weights.w.shape == (384,)


def test_training_never_reads_the_eval_sets() -> None:
    texts = {i.text for i in S.load_labelled(load_knowledge(KNOWLEDGE))}
    import json

    for name in ("scope", "retrieval_holdout", "retrieval_holdout2"):
        path = S.DATASETS / f"{name}.jsonl"
        held_out = {
            json.loads(line)["message"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        }
        assert not texts & held_out, f"{name}.jsonl leaked into the scope training texts"


@pytest.mark.parametrize(
    "message",
    [
        "my tennis partner says I should ice my sore elbow, how long for?",
        "what's a good recipe for a vegetable lasagne",
        "can you help me write a birthday poem for my nan",
        "my cat keeps limping on her back leg, should I take her to the vet",
    ],
)
def test_questions_the_knowledge_base_is_not_for_are_declined_with_the_clinics_contact(assistant, message: str) -> None:
    reply = assistant.reply(message)
    assert reply.refused and not reply.sections, message
    assert assistant.kb.clinic.phone in reply.answer


@pytest.mark.parametrize(
    "message",
    [
        "I do a lot of gardening, is kneeling to weed ok with my sciatica?",
        "my back went when I bent to tie my shoelace, how long will it take to settle?",
        "could my soft mattress be making my low back ache worse?",
    ],
)
def test_unusual_everyday_back_questions_are_answered_or_offered_choices(assistant, message: str) -> None:
    reply = assistant.reply(message)
    assert reply.sections or reply.suggestions, message
