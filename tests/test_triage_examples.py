"""Every finding and every concept of the red-flag rules carries examples, and the examples are the tests.

`knowledge/safety/triage_examples.yaml` holds, per finding, messages where it must fire and where it
must not (denied, hypothetical, someone else's, or simply different), and per concept, texts its
patterns must match and must not. A clinician reads them to see what each rule means.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from assistant.canonical import normalise
from assistant.guardrails.triage import load_engine

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
ENGINE = load_engine(KNOWLEDGE)


class _Examples(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fire: list[str] = Field(default_factory=list)
    quiet: list[str] = Field(default_factory=list)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    findings: dict[str, _Examples]
    concepts: dict[str, _Examples]


FILE = _File.model_validate(yaml.safe_load((KNOWLEDGE / "safety" / "triage_examples.yaml").read_text(encoding="utf-8")))
FINDINGS = [f.id for f in ENGINE.rules.source.findings]
CONCEPTS = list(ENGINE.rules.source.concepts)


def test_every_finding_and_concept_has_examples_both_ways() -> None:
    missing = [
        f"finding {f}"
        for f in FINDINGS
        if f not in FILE.findings or not (FILE.findings[f].fire and FILE.findings[f].quiet)
    ]
    missing += [
        f"concept {c}"
        for c in CONCEPTS
        if c not in FILE.concepts or not (FILE.concepts[c].fire and FILE.concepts[c].quiet)
    ]
    assert not missing, f"{len(missing)} without fire and quiet examples: {missing[:20]}"
    unknown = sorted(set(FILE.findings) - set(FINDINGS)) + sorted(set(FILE.concepts) - set(CONCEPTS))
    assert not unknown, f"examples for rules that do not exist: {unknown}"


def _finding_cases(kind: str) -> list[tuple[str, str]]:
    return [(fid, text) for fid, ex in FILE.findings.items() for text in getattr(ex, kind)]


def _concept_cases(kind: str) -> list[tuple[str, str]]:
    return [(cid, text) for cid, ex in FILE.concepts.items() for text in getattr(ex, kind)]


@pytest.mark.parametrize(("finding", "message"), _finding_cases("fire"))
def test_finding_fires_on_its_examples(finding: str, message: str) -> None:
    assert finding in {f.id for f in ENGINE.findings(message)}, f"{message!r} should fire {finding}"


@pytest.mark.parametrize(("finding", "message"), _finding_cases("quiet"))
def test_finding_stays_quiet_on_its_examples(finding: str, message: str) -> None:
    assert finding not in {f.id for f in ENGINE.findings(message)}, f"{message!r} should not fire {finding}"


@pytest.mark.parametrize(("concept", "text"), _concept_cases("fire"))
def test_concept_matches_its_examples(concept: str, text: str) -> None:
    assert ENGINE.rules.concepts[concept].search(ENGINE.fixer.fix(normalise(text))), f"{concept} should match {text!r}"


@pytest.mark.parametrize(("concept", "text"), _concept_cases("quiet"))
def test_concept_does_not_match_its_counter_examples(concept: str, text: str) -> None:
    assert not ENGINE.rules.concepts[concept].search(ENGINE.fixer.fix(normalise(text))), (
        f"{concept} should not match {text!r}"
    )
