"""Spelling shared by triage and retrieval (assistant/spelling.py), without the model."""

from __future__ import annotations

import pytest

from assistant.spelling import edit_distance


@pytest.mark.parametrize(
    ("a", "b", "limit", "expected"),
    [
        ("stretches", "stretches", 1, 0),
        ("streches", "stretches", 1, 1),  # a letter left out
        ("sciatcia", "sciatica", 1, 1),  # two neighbours swapped: one edit, not two
        ("massege", "massage", 1, 1),
        ("hamstirng", "hamstring", 2, 1),
        ("excercize", "exercise", 2, 2),
        ("hip", "knee", 2, 3),  # more than the limit: limit + 1, whatever the true distance
        ("walking", "w", 2, 3),
        ("", "abc", 5, 3),
    ],
)
def test_edit_distance_counts_edits_up_to_the_limit(a: str, b: str, limit: int, expected: int) -> None:
    assert edit_distance(a, b, limit) == expected
    assert edit_distance(b, a, limit) == expected
