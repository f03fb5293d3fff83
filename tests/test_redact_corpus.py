"""The redaction corpus (tests/redaction_corpus.yaml): personal data next to symptom words.

Every case must come out exactly as written down, and the symptom words beside the personal data
must survive: redaction that removes "numb bum" along with a name hides a red flag from the
physiotherapist who reviews the conversation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant.guardrails.redact import redact

CORPUS = yaml.safe_load((Path(__file__).parent / "redaction_corpus.yaml").read_text(encoding="utf-8"))
CASES = [
    pytest.param(case["text"], case.get("becomes", case["text"]), case.get("keeps", []), id=f"{group}-{i}")
    for group, cases in CORPUS.items()
    for i, case in enumerate(cases)
]
LABELS = (
    "[name]",
    "[dob]",
    "[phone]",
    "[email]",
    "[postcode]",
    "[address]",
    "[nhs-number]",
    "[ni-number]",
    "[card]",
    "[handle]",
)


@pytest.mark.parametrize(("text", "becomes", "keeps"), CASES)
def test_corpus(text: str, becomes: str, keeps: list[str]) -> None:
    out = redact(text)
    for words in keeps:
        assert words in out, f"{words!r} was removed: {out!r}"
    assert out == becomes


def test_the_corpus_covers_every_kind_of_personal_data() -> None:
    produced = " ".join(redact(text) for text, _, _ in (c.values for c in CASES))
    assert [label for label in LABELS if label not in produced] == [
        "[address]"
    ]  # addresses: redaction.yaml's own examples


def test_redacting_twice_changes_nothing_more() -> None:
    """The outbox stores a redacted message that the records database redacts again."""
    for _text, becomes, _ in (c.values for c in CASES):
        assert redact(becomes) == becomes
