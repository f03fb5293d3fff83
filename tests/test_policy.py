"""The policy file's own decisions, without the model: whom a self-harm signal is about."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.content import load_knowledge
from assistant.guardrails.policy import load_policy

KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"
POLICY = load_policy(KNOWLEDGE / "safety" / "policy.yaml", load_knowledge(KNOWLEDGE).clinic)


@pytest.mark.parametrize(
    ("evidence", "someone_else"),
    [
        ("my son keeps saying he wants to kill himself", True),
        ("She is suicidal", True),
        ("my husband says he would be better off dead", True),
        ("my neighbour wants to kill himself", True),
        ("our teenage daughter has been cutting herself", True),
        ("my flatmate keeps talking about ending it", True),
        ("I want to end it all", False),
        ("i'm better off dead", False),
        ("my wife says I talk about ending it all", False),  # the writer is named: their own crisis first
        ("suicidal thoughts", False),  # nobody named: the writer's
    ],
)
def test_a_self_harm_signal_is_read_as_someone_elses_only_when_the_writer_is_not_in_it(
    evidence: str, someone_else: bool
) -> None:
    assert POLICY.about_someone_else(evidence) is someone_else
