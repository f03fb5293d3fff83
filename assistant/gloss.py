"""Words of other languages glossed into English, for the readers that only know English.

Patients with little English mix their own words in ("kamar mein dard hai, ab peshab mein
problem"). The triage rules and the sentence encoder read English only, so a red flag told that way
was missed. A word-by-word gloss from the reviewed table in `knowledge/language/glossary.yaml` lets
them see "back", "pain", "urine". It is applied only when a message clearly contains the language
(at least two of its marker words; three for words that are also English), so an English message
is never touched. Only triage reads the gloss: what the patient wrote is stored and shown as written.

>>> gloss("kamar mein bahut dard hai")  # with the shipped table
'lower back mein very pain hai'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path

import yaml
from pydantic import Field

from assistant.schema import Strict

# a word: letters with the vowel signs of Indic scripts and Arabic's diacritics, which `\w` splits off
_WORD = re.compile(r"[\w\u0900-\u0dff\u064b-\u065f\u0670]+")
_ROMANIAN_CEDILLA = str.maketrans("şţŞŢ", "șțȘȚ")  # the old cedilla letters people still type
MIN_MARKERS = 2  # distinct marker words that show a language is there
MIN_MARKERS_FOR_COLLISIONS = 3  # before a word that is also English is glossed
NUMBER = "#"  # in a phrase, a number of 1 to 3 digits, written back where the gloss has "#" ("ho # anni")
_NUMBER = re.compile(r"(?<!\w)\d{1,3}(?!\w)")  # the number on its own, not the 3 of Arabizi "3omri"


class Language(Strict):
    """One language as UK patients type it: the words that show it, and the gloss of its words."""

    markers: list[str]
    words: dict[str, str]
    phrases: dict[str, str] = Field(default_factory=dict)
    english_collisions: list[str] = Field(default_factory=list)
    # emphasis words people put between a phrase's words ("jeene ka mann hi nahi karta"): a phrase still
    # matches with one of them after any of its words
    particles: list[str] = Field(default_factory=list)


class GlossTable(Strict):
    languages: dict[str, Language]
    examples: list[tuple[str, str]] = Field(default_factory=list)


@dataclass(frozen=True)
class _Compiled:
    name: str
    markers: frozenset[str]
    phrases: re.Pattern[str] | None
    phrase_gloss: dict[str, str]
    words: dict[str, str]
    collisions: frozenset[str]
    particles: re.Pattern[str] | None  # a particle between two words, removed before the phrase is looked up


def table_path() -> Path:
    return Path(str(resources.files("physio_knowledge"))) / "language" / "glossary.yaml"


def load_table(path: Path | None = None) -> GlossTable:
    return GlossTable.model_validate(yaml.safe_load((path or table_path()).read_text(encoding="utf-8")))


def _compile(name: str, lang: Language) -> _Compiled:
    phrases = {k.lower(): v for k, v in lang.phrases.items()}
    # longest first, so "jeene ka mann nahi" wins over a shorter phrase inside it
    particles = "|".join(re.escape(w.lower()) for w in lang.particles)
    gap = rf"\s+(?:(?:{particles})\s+)?" if particles else r"\s+"
    alternation = "|".join(
        re.escape(p).replace(re.escape(NUMBER), r"\d{1,3}").replace(r"\ ", gap)
        for p in sorted(phrases, key=len, reverse=True)
    )
    return _Compiled(
        name=name,
        markers=frozenset(m.lower() for m in lang.markers),
        phrases=re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE) if phrases else None,
        phrase_gloss=phrases,
        words={k.lower(): v for k, v in lang.words.items()},
        collisions=frozenset(w.lower() for w in lang.english_collisions),
        particles=re.compile(rf"(?<=\s)(?:{particles})\s+") if particles else None,
    )


@lru_cache(maxsize=1)
def _languages() -> tuple[_Compiled, ...]:
    return tuple(_compile(name, lang) for name, lang in load_table().languages.items())


@lru_cache(maxsize=1)
def _all_markers() -> frozenset[str]:
    return frozenset().union(*(lang.markers for lang in _languages()))


def languages_in(text: str, least: int = MIN_MARKERS) -> dict[str, int]:
    """The table's languages with at least `least` distinct marker words in `text`, and how many."""
    seen = {w.lower() for w in _WORD.findall(text)} & _all_markers()
    if not seen:
        return {}  # the usual case, an English message: one set intersection
    found = {lang.name: len(seen & lang.markers) for lang in _languages()}
    return {name: n for name, n in found.items() if n >= least}


def _phrase(table: dict[str, str], particles: re.Pattern[str] | None, m: re.Match[str]) -> str:
    said = " ".join(m.group(0).lower().split())
    if said in table:
        return table[said]
    if particles is not None and (plain := particles.sub("", said)) in table:
        return table[plain]  # "jeene ka mann hi nahi": the phrase with an emphasis word inside
    number = _NUMBER.search(said)  # a phrase with the number placeholder matched
    if number is None:
        return m.group(0)
    return table[_NUMBER.sub(NUMBER, said, count=1)].replace(NUMBER, number.group(0))


@lru_cache(maxsize=4096)
def gloss(text: str) -> str:
    """`text` with the words of every language it clearly contains written in English; else unchanged."""
    composed = text if text.isascii() else unicodedata.normalize("NFC", text).translate(_ROMANIAN_CEDILLA)
    present = languages_in(composed)
    if not present:
        return text
    text = composed
    for lang in _languages():
        if lang.name not in present:
            continue
        if lang.phrases is not None:
            text = lang.phrases.sub(partial(_phrase, lang.phrase_gloss, lang.particles), text)
        strong = present[lang.name] >= MIN_MARKERS_FOR_COLLISIONS
        text = _WORD.sub(partial(_word, lang, strong), text)
    return text


def _word(lang: _Compiled, strong: bool, m: re.Match[str]) -> str:
    """A word in English when the table has it (one that is also English only when `strong`)."""
    w = m.group(0)
    english = lang.words.get(w.lower())
    if english is None or (w.lower() in lang.collisions and not strong):
        return w
    return english
