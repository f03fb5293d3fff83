"""Triage's typo corrector: unknown words to the nearest safety term of the rules ("numbess" -> "numbness"),
and short words run into the next one split apart ("feelmy" -> "feel my")."""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.canonical import normalise
from assistant.spelling import known_words, nearest

_REPEAT_RX = re.compile(r"([a-z])\1{2,}")


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


_SUFFIXES = ("ings", "ing", "ers", "er", "ed", "es", "s", "ly")


def _inflects_known(token: str) -> bool:
    """An ending on a word the dictionary knows ("shoveling": "shovel" + "ing", the American spelling) is
    a real word, not a typo: "shoveling snow" must not become "shivering"."""
    words = known_words()
    for suffix in _SUFFIXES:
        stem = token[: -len(suffix)]
        # "-es" only where English puts it ("pushes", not "bowles", which is "bowels" mistyped)
        if token.endswith(suffix) and len(stem) >= 4 and (suffix != "es" or stem.endswith(("s", "x", "z", "ch", "sh"))):
            doubled = len(stem) > 4 and stem[-1] == stem[-2] and stem[:-1] in words  # "shovelling"
            if stem in words or stem + "e" in words or doubled:
                return True
    return False


class SafetyTermCorrector:
    """Triage's corrector: unknown tokens to the nearest safety term ("numbess" -> "numbness").

    Retrieval has its own, more cautious one (`assistant.spelling.QueryCorrector`); see there why two."""

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
            elif token not in known_words() and len(token) >= 5 and not _inflects_known(token):
                best = nearest(collapsed, self._by_initial, 2 if len(token) >= 8 else 1)
                # "stretch" for "stretches" is the same word: an inflection is left as typed
                inflection = (
                    best is not None
                    and best.startswith(collapsed[:-1])
                    and abs(len(best) - len(collapsed)) == 1
                    and best[-1] in "sd"
                )
                if best is not None and not inflection:
                    fixed = best
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
                # two function words and the first a bare "no": "nowe" (Polish "new"), "nowim" are far
                # more often "now ..." or another language than "no we"; a split must not invent a denial
                (glue_left and glue_right and left != "no")
                or (glue_left and right in words and len(right) >= 4)
                or (glue_right and left in words and len(left) >= 4)
            ):
                return normalise(f"{left} {right}")  # "i cant" -> "i cannot"
        return None

    def fix(self, normalised: str) -> str:
        return " ".join(self.fix_token(t) for t in normalised.split(" "))
