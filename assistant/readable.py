"""How much of a message the assistant can read: the rules and the net read English, so a message
mostly in another language tells them little, and silence would read as self-care. Such a message is
asked the red-flag checklist (unless the rules already read an emergency in it).

A word is read when it is English: a whole word of the bundled encoder's dictionary or a word of the
knowledge base. The share is of the message as written, not after the glossary: the glossary lets the
rules read the red flags it knows in Spanish or Hindi, but what it leaves out ("no he podido orinar",
"jaan lene ki soch raha hoon") is not read, so its silence is no all-clear either. English as patients
type it (slang, typos, text speak written out) stays well above the bar; a sentence in Swedish,
Spanish or Greek falls far below it.

>>> r = Readability(frozenset({"my", "back", "hurts", "when", "i", "walk"}), min_words=5, min_share=0.5)
>>> r.unread("my back hurts when I walk"), r.unread("Jag har ont i ryggen när jag går")
(False, True)
>>> r.unread("hej då")  # too short to judge
False
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.canonical import canonical
from assistant.spelling import known_words

# scripts written without spaces (Chinese, Japanese, Thai): each character counts as a word
_UNSPACED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# the combining marks inside words of Indic, Arabic and Hebrew scripts (and accents left decomposed)
_MARKS = "\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0670\u0900-\u0dff"
# words of two letters or more, in any script; a character of an unspaced script alone
_WORD = re.compile(rf"[{_UNSPACED}]|(?:[^\W\d_{_UNSPACED}]|[{_MARKS}]){{2,}}")


@dataclass(frozen=True)
class Readability:
    """Whether a message is mostly in words the English readers know (pure: the lexicon is given)."""

    lexicon: frozenset[str]
    min_words: int
    min_share: float

    def share(self, text: str) -> tuple[float, int]:
        """The share of the message's words that are English, and how many words it has."""
        words = _WORD.findall(canonical(text).lower())
        if not words:
            return 1.0, 0
        return sum(len(w) > 1 and w in self.lexicon for w in words) / len(words), len(words)

    def unread(self, text: str, *, min_words: int | None = None) -> bool:
        """Long enough to judge (`min_words`, by default the policy's), and less than `min_share` of it
        English: the triage cannot read it."""
        share, count = self.share(text)
        return count >= (self.min_words if min_words is None else min_words) and share < self.min_share


def lexicon(texts: Iterable[str]) -> frozenset[str]:
    """The encoder's dictionary and every word of `texts` (the knowledge base's own words: 'sciatica')."""
    words = set(known_words())
    for text in texts:
        words.update(_WORD.findall(text.lower()))
    return frozenset(words)


@lru_cache(maxsize=4)
def knowledge_lexicon(knowledge: Path) -> frozenset[str]:
    """The lexicon of a knowledge folder: its articles and exercise cards."""
    files = sorted([*knowledge.glob("articles/**/*.md"), *knowledge.glob("exercises/**/*.yaml")])
    return lexicon(p.read_text(encoding="utf-8") for p in files)
