"""The canonical text every stage reads: one table-driven test over the reviewed examples."""

from __future__ import annotations

import re
from functools import partial

import pytest

from assistant.canonical import _FORMAT, _TOKEN, _compiled, _speak, _speak_all, canonical, normalise
from assistant.guardrails.input import clean

EXAMPLES = _compiled().table.examples


def test_the_table_has_examples_for_every_kind_of_variant() -> None:
    raw = "".join(a for a, _ in EXAMPLES)
    for ch in ("\u200b", "\u00ad", "\ufeff", "\u200d", "\u02bc", "`", "\u00b4", "\u2032", "\n"):
        assert ch in raw, f"no example with {ch!r}"


@pytest.mark.parametrize(("raw", "expected"), EXAMPLES, ids=[repr(a)[:40] for a, _ in EXAMPLES])
def test_canonical_form(raw: str, expected: str) -> None:
    assert canonical(raw) == expected


def test_canonical_is_idempotent() -> None:
    for raw, _ in EXAMPLES:
        once = canonical(raw)
        assert canonical(once) == once


def test_input_keeps_the_writers_line_breaks_but_not_invisible_characters() -> None:
    assert clean("no fever\nnumb bu\u200bm") == "no fever\nnumb bum"


def test_every_format_character_lies_outside_ascii() -> None:
    """`canonical` skips looking for them in an ASCII message."""
    assert [i for i in range(128) if _FORMAT.match(chr(i))] == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pain  here \t\n\n numb\r\n\r\nBum ", "pain here\nnumb\nBum"),
        ("numb\n bum\u2028now", "numb bum now"),
        ("x\x0by", "x y"),
    ],
)
def test_spaces_and_line_breaks_with_and_without_a_break(raw: str, expected: str) -> None:
    assert canonical(raw) == expected


def test_rule_matching_reads_the_canonical_form() -> None:
    assert normalise("I can\u02bct fe\u00adel my bummm") == normalise("I can't feel my bum")


@pytest.mark.parametrize(
    "junk", ["", "\u200b\u200b", "\x00\x01", "a" * 20000, "\ud800", "\U0001f600" * 50, "\u0301\u0301x"]
)
def test_any_text_gets_a_canonical_form(junk: str) -> None:
    assert isinstance(canonical(junk), str)


def test_were_stays_a_past_tense() -> None:
    """The word were once became "we are", which ended another person's story early ("she were lifting")."""
    assert normalise("my legs were numb") == "my legs were numb"
    assert normalise("theyre fine and youre right") == "they are fine and you are right"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Fever - no.", "fever no"),
        ("saddle anaesthesia \u2013 nil", "saddle anaesthesia nil"),
        ("back hurts - no idea why", "back hurts , no idea why"),
        ("I lifted the box - then it went", "i lifted the box , then it went"),
    ],
)
def test_a_spaced_dash_joins_clauses_but_a_checklist_answer_stays_with_its_label(raw: str, expected: str) -> None:
    """Clinicians' shorthand ("Fever - no. Weight loss - no.") answers each label; elsewhere the dash is a comma."""
    assert normalise(raw) == expected


SPOKEN = [(raw, out) for form in _compiled().table.spoken_forms for raw, out in form.examples]


@pytest.mark.parametrize(("raw", "expected"), SPOKEN, ids=[a[:40] for a, _ in SPOKEN])
def test_a_word_speech_to_text_put_for_another_is_read_as_meant(raw: str, expected: str) -> None:
    """The rules read "no bowl control" as "no bowel control"; "a bowl of porridge" stays a bowl."""
    assert normalise(raw) == expected


def test_every_spoken_form_has_an_example_it_changes_and_one_it_leaves() -> None:
    for form in _compiled().table.spoken_forms:
        changed = [raw for raw, out in form.examples if normalise(raw) != raw.lower()]
        kept = [raw for raw, out in form.examples if out == normalise(raw) and out == " ".join(raw.lower().split())]
        assert changed and kept, form.pattern
        assert all(re.search(rf"\b{form.word}\b", raw.lower()) for raw in changed), form.word


def test_text_speak_found_by_search_is_every_token_written_out() -> None:
    """`_speak_all` looks up only the tokens its search finds: the same text as looking up every token."""
    c = _compiled()
    texts = [
        "Cnt feel my legs, U know, wen I wake up b4 work",
        "NOWT's changed; doin' fine/ish, CANT say more",
        "b's and bb/b b_ b4b nothin'' im IM Im i'm",
        "caf\u00e9 cnt u",  # not ASCII: every token looked up
    ]
    for text in texts:
        assert _speak_all(text, c) == _TOKEN.sub(partial(_speak, table=c.speak), text)
