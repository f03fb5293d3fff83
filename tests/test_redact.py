"""Redaction: every example in knowledge/safety/redaction.yaml is a test, plus the edge cases."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.guardrails.redact import compiled, default_path, load_rules, redact

RULES = load_rules()
MUST_CHANGE = [
    pytest.param(ex.text, ex.becomes, id=f"{rule.id}-{i}") for rule in RULES.rules for i, ex in enumerate(rule.redact)
]
MUST_KEEP = [pytest.param(text, id=f"{rule.id}-keep-{i}") for rule in RULES.rules for i, text in enumerate(rule.keep)]
MUST_KEEP += [pytest.param(text, id=f"clinical-{i}") for i, text in enumerate(RULES.keep)]


@pytest.mark.parametrize(("text", "becomes"), MUST_CHANGE)
def test_personal_data_is_replaced_by_its_label(text: str, becomes: str) -> None:
    assert redact(text) == becomes


@pytest.mark.parametrize("text", MUST_KEEP)
def test_clinical_wording_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_every_rule_has_examples_that_keep_text() -> None:
    """A rule without `keep` examples has never been checked against over-redaction."""
    assert [rule.id for rule in RULES.rules if not rule.keep] == []


def test_a_message_with_everything_keeps_its_clinical_meaning() -> None:
    message = (
        "Hi, my name is Sarah Jones (DOB 01/02/1960), NHS 943 476 5919. I'm 67, pain at L4/L5 for "
        "3 weeks; 10 reps, 3 times a day. Call 07700 900123 or sarah@example.com, 12 Acacia Avenue, M1 1AE."
    )
    assert redact(message) == (
        "Hi, my name is [name] (DOB [dob]), NHS [nhs-number]. I'm 67, pain at L4/L5 for "
        "3 weeks; 10 reps, 3 times a day. Call [phone] or [email], [address], [postcode]."
    )


def test_empty_text_stays_empty() -> None:
    assert redact("") == ""


def test_unicode_survives_and_names_in_other_scripts_are_redacted() -> None:
    assert redact("my name is Zoë Łukasik 😀 — douleur à L5") == "my name is [name] 😀 — douleur à L5"
    assert redact("my name is Дмитрий, I'm 40") == "my name is [name], I'm 40"


@pytest.mark.parametrize(
    "chunk",
    [
        "a",
        "1",
        " 1",
        "0 ",
        "a.",
        "a@",
        "(0",
        "+4",
        "my name is ",
        "1 A ",
        "12 a ",
        "born on 3 ",
        "DOB 01/02/1960 ",
        "@a",
        "Dr A ",
        "Hi, A here ",
        "I'm A ",
        "my wife A ",
        "Regards, A ",
        "4111 ",
        "AB 12 ",
        " A A A\n",
        "x.com/a",
    ],
)
def test_huge_text_is_redacted_in_linear_time(chunk: str) -> None:
    """Patterns that backtrack on long input would stall logging. Four times the text must take about
    four times as long, not sixteen: a ratio measured in one run, so a busy machine does not fail it
    (the absolute bound only catches a hang)."""

    def seconds(size: int) -> float:
        text = (chunk * (size // len(chunk) + 1))[:size]
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            out = redact(text)
            best = min(best, time.perf_counter() - start)
        assert len(out) <= len(text) + size
        return best

    small, large = seconds(50_000), seconds(200_000)
    assert large < 30.0, "redaction hangs on long input"
    assert large / max(small, 0.005) < 12.0, f"not linear: 50k {small:.3f} s, 200k {large:.3f} s"  # quadratic: 16


def test_rules_are_compiled_once() -> None:
    assert compiled() is compiled()


def test_a_typo_in_the_rules_file_fails_loudly(tmp_path: Path) -> None:
    text = default_path().read_text(encoding="utf-8").replace('    label: "[email]"', '    lable: "[email]"', 1)
    (tmp_path / "redaction.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rules\.0\.lable: Extra inputs are not permitted"):
        load_rules(tmp_path / "redaction.yaml")


def test_a_pattern_that_does_not_compile_is_named(tmp_path: Path) -> None:
    path = tmp_path / "redaction.yaml"
    path.write_text(
        "rules:\n  - id: broken\n    label: '[x]'\n    why: a deliberately broken rule\n"
        "    pattern: '(unclosed'\n    redact: [{text: a, becomes: b}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="'broken': pattern does not compile"):
        load_rules(path)
