"""`needles`: every match of a pattern contains one of its needles, so a text with none cannot match."""

from __future__ import annotations

import re

import pytest

from assistant import canonical
from assistant.needles import Alternatives, may_match, needles


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\bwon'?t\b", ("won",)),
        (r"\b(?:ma|me)\b(?= (?:back|leg))", ("back", "leg")),
        (r"\b(\w+)'s (got|been)\b", ("'s ",)),
        (r"[ab]c?d", ("d",)),  # of two choices as long, the one with fewer needles
        (r"[ab]+c", ("c",)),
        (r"x*y?", None),  # nothing every match must contain
        (r"(?i)numb", None),  # case folded: a literal test would miss "NUMB"
        (r"\bno(?!t)\b", ("no",)),
        (r"\d+ mg", (" mg",)),
    ],
)
def test_needles_of_a_pattern(pattern: str, expected: tuple[str, ...] | None) -> None:
    assert needles(re.compile(pattern)) == expected


def test_no_needle_means_no_match() -> None:
    texts = [
        "i can't feel my bum",
        "he's been off work, they're worried and ur mum wont stop",
        "ma back is sore, ah cannae sleep, i'm gonna see the gp",
        "the crushing deadlines at work, a total car crash of a week",
        "my legs feel week and num down there",
    ]
    rules = [rx for rx, _r, _n in canonical._CONTRACTIONS_RX] + [rx for rx, _m, _n in canonical._compiled().spoken]
    for rx in rules:
        found = needles(rx)
        for text in texts:
            if rx.search(text):
                assert may_match(found, text), (rx.pattern, text)


def test_alternatives_without_the_rare_ones_find_the_same_matches() -> None:
    alternatives = [r"\b(?P<age>\d{2}) years old\b", r"\b(?P<elderly>pensioner|retired)\b", r"\bborn (?P<born>\d{4})\b"]
    found = Alternatives(alternatives, samples=["my back hurts", "i am 40 years old", "it hurts when i bend"])
    assert found.pattern_for("40 years old, back pain") is not found.full  # no rare needle in it
    assert found.pattern_for("retired at 60") is found.full
    for text in ["40 years old, back pain", "retired, born 1950, 75 years old", "nothing here"]:
        fast = [(m.span(), m.groupdict()) for m in found.pattern_for(text).finditer(text)]
        assert fast == [(m.span(), m.groupdict()) for m in found.full.finditer(text)]
