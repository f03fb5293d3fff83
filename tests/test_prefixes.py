"""The beginnings read off a rule's pattern never rule out a sentence the pattern matches.

Triage skips a concept's search when no word of the sentence begins the way a match must; that is
only a shortcut if it never skips a match. Every example sentence of the rules, read as triage
reads it, is checked against every concept and phrase pattern."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from assistant.canonical import canonical
from assistant.guardrails.prefixes import Beginnings, match_needs, match_starts, shortest, word_starts
from assistant.guardrails.triage import load_engine
from assistant.sentences import sentences

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
ENGINE = load_engine(KNOWLEDGE)
PATTERNS = {
    **ENGINE.rules.concepts,
    **{k: v for k, v in ENGINE.rules.phrases.items() if v is not None},
    "context.checked.clear": ENGINE.rules.checked_clear,  # looked for in every message that tells a sign
}


def _texts() -> list[str]:
    examples = yaml.safe_load((KNOWLEDGE / "safety" / "triage_examples.yaml").read_text(encoding="utf-8"))
    texts = [t for kind in ("findings", "concepts") for ex in examples[kind].values() for t in ex["fire"] + ex["quiet"]]
    texts += [t for f in ENGINE.rules.source.flags for t in f.examples.fire + f.examples.quiet]
    checked = ENGINE.rules.source.context.checked
    texts += checked.examples.fire + checked.examples.quiet if checked else []
    prepared = {ENGINE._prepared(s) for t in texts for s in sentences(canonical(t))}
    return sorted(prepared | {f"{s} qmark" for s in prepared})


TEXTS = _texts()


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_no_match_is_ruled_out(name: str) -> None:
    rx = PATTERNS[name]
    starts = match_starts(rx)
    if starts is None:
        return  # searched every time
    missed = [t for t in TEXTS if rx.search(t) and starts.isdisjoint(word_starts(t))]
    assert not missed, f"{name}: ruled out although it matches {missed[:3]}"


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_no_match_lacks_what_it_needs(name: str) -> None:
    """A sentence whose word starts have none of a pattern's needs (`match_needs`) is never searched."""
    rx = PATTERNS[name]
    needs = match_needs(rx, {})
    if needs is None:
        return
    missed = [t for t in TEXTS if rx.search(t) and needs.isdisjoint(word_starts(t))]
    assert not missed, f"{name}: needs nothing there although it matches {missed[:3]}"


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_matches_found_at_word_starts_are_all_the_matches(name: str) -> None:
    rx = PATTERNS[name]
    starts = match_starts(rx)
    for text in TEXTS:
        expected = [m.span() for m in rx.finditer(text)]
        assert [m.span() for m in Beginnings(text).finditer(rx, starts)] == expected, (name, text)
        # the fewer beginnings triage tries (`shortest`) find the same matches
        assert [m.span() for m in Beginnings(text).finditer(rx, shortest(starts))] == expected, (name, text)


def test_needs_may_lie_past_a_match_start() -> None:
    """Common words begin every match, but a word beginning "suici" is in each: the rarer is kept."""
    rx = re.compile(r"(?<![a-z0-9])(?:(?:he|she|my \w+) (?:is|was) (?:\w+ )?suicidal)(?![a-z0-9])")
    common = {"he is": 5, "he wa": 5, "she i": 5, "she w": 5, "my ": 5, "is su": 9, "was s": 9}
    assert match_needs(rx, common) == frozenset({"suici"})
    assert match_needs(rx, {"suici": 99}) == frozenset({"he is", "he wa", "she i", "she w", "my "})


def test_most_patterns_have_beginnings() -> None:
    told = [name for name, rx in PATTERNS.items() if match_starts(rx) is not None]
    assert len(told) >= 0.8 * len(PATTERNS)


@pytest.mark.parametrize(
    ("pattern", "starts"),
    [
        (r"numb(?:ness)?|pins and needles", {"numb", "numbn", "pins "}),  # a whole match is shorter than SPAN
        (r"t.?boned", {"t", "tbone"}),  # a wildcard cuts a beginning short
        (r"(?:38|41)(?:p\d)? ?c", {"38 c", "38c", "38p", "41 c", "41c", "41p"}),
        (r"\d+ days", None),  # may begin with any digit: cannot be told
        (r"(?:very )?ill", {"very ", "ill"}),
    ],
)
def test_beginnings_of_a_pattern(pattern: str, starts: set[str] | None) -> None:
    rx = re.compile(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])")
    assert match_starts(rx) == (frozenset(starts) if starts is not None else None)
