"""Text normalisation, in one place: the canonical form of what a patient typed, read by every stage
(triage, the net, retrieval, redaction), and the forms derived from it.

Phones and keyboards write the same words many ways: invisible characters inside words, a dozen
apostrophes, line breaks in mid-sentence, stretched letters, text speak. Each stage used to cope
(or not) on its own; now the text is made canonical once, from the reviewed table in
`knowledge/language/canonical.yaml`. The rules read `normalise` (lower case, contractions written
out, punctuation as spaces). Where sentences end is `assistant.sentences`.

>>> canonical("i cnt feeeel my bu\\u200bm wen i wipe")
"i can't feel my bum when i wipe"
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

from assistant.needles import may_match, needles
from assistant.schema import Strict
from assistant.spelling import known_words

_REPEAT = re.compile(r"([^\W\d_])\1{2,}")
# a word as text speak is looked up: a whole run of letters, digits, apostrophes and slashes ("w/", "b4")
_TOKEN = re.compile(r"[\w'/]+")
_SPACES = re.compile(r"[^\S\n]+")
# a line break inside a sentence: after a letter, digit or comma, before a lower-case word
_MID_SENTENCE_BREAK = re.compile(r"(?<=[\w,])[^\S\n]*\n[^\S\n]*(?=[a-z0-9])")
_LINE_END_SPACES = re.compile(r"[^\S\n]*\n[^\S\n]*")


class SpokenForm(Strict):
    """A word speech-to-text or a dialect puts in place of another, where it cannot mean itself."""

    word: str  # the word put in place of another: a sentence without any of them is left alone, unread
    pattern: str
    means: str
    examples: list[tuple[str, str]] = Field(min_length=2)


class CanonicalTable(Strict):
    """The reviewed table: which characters and words map to what."""

    apostrophes: list[str]
    quotes: list[str]
    hyphens: list[str]
    text_speak: dict[str, str]
    lookalikes: dict[str, str] = Field(default_factory=dict)
    symbols: dict[str, str] = Field(default_factory=dict)
    list_marks: dict[str, str] = Field(default_factory=dict)
    stretched_words: list[str] = Field(default_factory=list)
    answer_marks: dict[str, str] = Field(default_factory=dict)
    spoken_forms: list[SpokenForm] = Field(default_factory=list)
    examples: list[tuple[str, str]] = Field(default_factory=list)


Substitution = tuple[re.Pattern[str], str, tuple[str, ...] | None]  # pattern, replacement, `needles`


@dataclass(frozen=True)
class _Compiled:
    table: CanonicalTable
    translate: dict[int, str]
    speak: dict[str, str]
    speak_token: re.Pattern[str]  # a token text speak writes out (`_speak`), in lower-case ASCII text
    spoken: tuple[Substitution, ...]
    any_spoken: re.Pattern[str]  # one search for their words: most sentences have none of them
    lookalikes: dict[int, str]
    has_lookalike: re.Pattern[str]  # a word with a lookalike letter and a Latin one
    list_line: re.Pattern[str]  # a line that starts with a list mark
    list_mark: re.Pattern[str]  # a list mark before a word
    stretched: frozenset[str]  # words a stretched spelling may mean that the model's vocabulary lacks


def table() -> CanonicalTable:
    """The reviewed table as loaded (what the learned triage net's training hash covers)."""
    return _compiled().table


def _substitution(pattern: str, replacement: str) -> Substitution:
    """A substitution with its `needles`: one none of whose needles is in a text leaves it as it is, so
    it is not run (most sentences have none of a rule's words, and a failed scan is most of its cost)."""
    rx = re.compile(pattern)
    return rx, replacement, needles(rx)


def table_path() -> Path:
    return Path(str(resources.files("physio_knowledge"))) / "language" / "canonical.yaml"


@lru_cache(maxsize=1)
def _compiled() -> _Compiled:
    raw = yaml.safe_load(table_path().read_text(encoding="utf-8"))
    table = CanonicalTable.model_validate(raw)
    translate = {ord(c): "'" for c in table.apostrophes}
    translate |= {ord(c): '"' for c in table.quotes}
    translate |= {ord(c): "-" for c in table.hyphens}
    translate |= {ord(c): word for c, word in table.symbols.items()}
    spoken = tuple(_substitution(f.pattern, f.means) for f in table.spoken_forms)
    words = sorted({re.escape(f.word) for f in table.spoken_forms})
    any_spoken = re.compile(rf"\b(?:{'|'.join(words)})\b" if words else r"(?!x)x")
    speak = {word.lower(): full for word, full in table.text_speak.items()}
    speak_token = _speak_token(speak)
    look = {ord(k): v for k, v in table.lookalikes.items()}
    letters = re.escape("".join(table.lookalikes))
    mixed = re.compile(rf"\b(?=\w*[{letters}])(?=\w*[A-Za-z])\w+" if table.lookalikes else r"(?!x)x")
    marks = re.escape("".join(table.list_marks)) if table.list_marks else None
    list_line = re.compile(rf"(?m)^[^\S\n]*[{marks}].*$" if marks else r"(?!x)x")
    list_mark = re.compile(rf"[{marks}]\ufe0f?[^\S\n]*(?=[^\W\d_])" if marks else r"(?!x)x")
    stretched = frozenset(w.lower() for w in table.stretched_words)
    return _Compiled(
        table, translate, speak, speak_token, spoken, any_spoken, look, mixed, list_line, list_mark, stretched
    )


def _speak_token(speak: dict[str, str]) -> re.Pattern[str]:
    """A whole token (`_TOKEN`) that `_speak` may write out: a word of the table, or one with an
    apostrophe or "'s" after it, alone between characters no token has. Its words are grouped by their
    first letter, so that at most token starts the search fails after one character."""
    words = sorted(w for w in speak if _TOKEN.fullmatch(w))
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0], []).append(re.escape(word[1:]))
    groups = "|".join(f"{re.escape(first)}(?:{'|'.join(rests)})" for first, rests in by_first.items())
    return re.compile(rf"(?<![\w'/])(?:{groups or '(?!)'})(?:'s?)?(?![\w'/])")


def _list_items(line: re.Match[str], c: _Compiled) -> str:
    """A list's line whose items each lead with a cross or a tick: each item its own sentence, the mark
    a "no" or a "yes" (`list_marks`)."""
    marks = c.table.list_marks
    return c.list_mark.sub(lambda m: f". {marks[m.group(0)[0]]} ", line.group(0)).lstrip()


# Unicode's format characters (category Cf): invisible, and never a word boundary
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
# control characters (but the line break), lone surrogates and private-use characters: a space
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff]")
# the emoji-style selector and the skin tones that follow a sign ("\U0001f44d\U0001f3fb" is a thumbs up)
_EMOJI_STYLE = re.compile("[\ufe0f\U0001f3fb-\U0001f3ff]")
_STRETCHED = re.compile(r"[^\W\d_]*([^\W\d_])\1{2,}[^\W\d_]*")


def _squeeze(match: re.Match[str]) -> str:
    return match.group(1) * 2


def _unstretch(word: str, extra: frozenset[str] = frozenset()) -> str:
    """'feeeel' -> 'feel', 'bummm' -> 'bum': three or more of a letter become two, or one if only that is a word
    (the model's vocabulary, and `stretched_words`: "pooo" is "poo", not the "po" the vocabulary knows)."""
    if not _REPEAT.search(word) or len(set(word.lower())) == 1 or (word.isupper() and len(word) <= 4):
        return word  # "aaa" and "AAA" (an aneurysm), "zzz": not a stretched word
    double = _REPEAT.sub(_squeeze, word)
    single = _REPEAT.sub(r"\1", word)
    words = known_words()
    if double.lower() in words or double.lower() in extra or single.lower() not in words:
        return double
    return single


def _speak(match: re.Match[str], table: dict[str, str]) -> str:
    """A text-speak word written out ("Cnt" -> "Can't"); any other word as it is."""
    return _speak_word(match.group(0), table)


def _speak_all(text: str, c: _Compiled) -> str:
    """Every token's text speak written out (`_speak`). In ASCII text (most messages) the table's words
    are searched for first (`_speak_token`), so only the tokens that are one are looked at, not every
    token with a call: the same text, as a token that is none of them is left as it is."""
    if not text.isascii():
        return _TOKEN.sub(partial(_speak, table=c.speak), text)
    pieces: list[str] = []
    last = 0
    for m in c.speak_token.finditer(text.lower()):  # ASCII: lower case keeps every index
        start, end = m.span()
        pieces += (text[last:start], _speak_word(text[start:end], c.speak))
        last = end
    return "".join(pieces) + text[last:] if pieces else text


def _speak_word(word: str, table: dict[str, str]) -> str:
    full = table.get(word.lower())
    if full is None and word.endswith("'"):
        full = table.get(word[:-1].lower())  # a dropped g written with an apostrophe: "nothin'", "doin'"
    if full is None and word.lower().endswith("'s") and (base := table.get(word[:-2].lower())) is not None:
        full = base + "'s"  # "nowt's changed": the word's own "is"
    if full is None:
        return word
    return full[:1].upper() + full[1:] if word[:1].isupper() and not word.isupper() else full


def canonical(text: str, *, join_lines: bool = True) -> str:
    """The canonical form of `text`: same words and case, one spelling of every character.

    NFKC; format characters (zero-width space, soft hyphen, joiners, byte-order mark) removed
    without splitting the word; every apostrophe, quote and hyphen variant mapped; control
    characters become spaces; Cyrillic and Greek letters drawn like Latin ones read as Latin inside
    a word that has Latin letters too ("Whаt" with a Cyrillic "а"); a line break inside a sentence
    is joined (`join_lines`); letters stretched three times or more squeezed; common text speak
    written out.
    """
    if not join_lines and "\n" not in text and "\r" not in text:
        join_lines = True  # nothing to join: the same text, and the same cache entry
    return _canonical(text, join_lines)


@lru_cache(maxsize=8192)
def _canonical(text: str, join_lines: bool) -> str:
    c = _compiled()
    if not text.isascii():  # every format character, and every lookalike letter, lies outside ASCII
        text = _FORMAT.sub("", text)
        if (answer := c.table.answer_marks.get(_EMOJI_STYLE.sub("", text).strip())) is not None:
            return answer  # a message of one tick or cross answers the question before it (`answer_marks`)
        text = c.has_lookalike.sub(lambda m: m.group(0).translate(c.lookalikes), text)
        # crosses leading a list's items read "no" (`list_marks`)
        text = c.list_line.sub(partial(_list_items, c=c), text)
    text = unicodedata.normalize("NFKC", text.translate(c.translate)).translate(c.translate)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text)
    if join_lines and "\n" in text:  # the patterns about lines need a line break (most messages have none)
        text = _MID_SENTENCE_BREAK.sub(" ", text)
    if _REPEAT.search(text):
        text = _STRETCHED.sub(lambda m: _unstretch(m.group(0), c.stretched), text)
    text = _speak_all(text, c)
    text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = re.sub(r"\n{2,}", "\n", _LINE_END_SPACES.sub("\n", text))
    return text.strip()


# ---- the form the rules read: lower case, contractions written out ------------------------------
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
    (r"\b(\w+)'s (got|been)\b", r"\1 has \2"),  # "my husband's got": present, not his past story
    (r"\b(it|that|there|what|he|she|who|where|how)'s\b", r"\1 is"),
    (r"\b(he|she)s\b", r"\1 is"),
    (r"\b(they|you)re\b", r"\1 are"),  # not "were": a past tense far more often than "we're"
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
_CONTRACTIONS_RX = [_substitution(p, r) for p, r in _CONTRACTIONS]
_GROUP = 4  # contractions tried together: one search over a group's alternation skips it when none applies
_CONTRACTION_GROUPS = [
    (re.compile("|".join(f"(?:{p})" for p, _r in _CONTRACTIONS[i : i + _GROUP])), _CONTRACTIONS_RX[i : i + _GROUP])
    for i in range(0, len(_CONTRACTIONS), _GROUP)
]
# any contraction at all: most sentences have none, and one search of them all costs less than the
# groups' searches; with none, no group applies and no substitution makes one apply
_ANY_CONTRACTION = re.compile("|".join(f"(?:{p})" for p, _r in _CONTRACTIONS))
_NON_WORD_RX = re.compile(r"[^a-z0-9/&\s,]+")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_SPACED_DASH = re.compile(r"\s[-\u2013\u2014]+\s")
# ... except before a bare answer that ends its item ("fever - no.", "saddle anaesthesia - nil"): a
# checklist's label and its answer, read as "fever: no"
_DASHED_ANSWER = re.compile(r"\s[-\u2013\u2014]+\s(?=(?:no|none|nil|negative|denied|n)\s*(?:[.;,!/]|$))")
_SPACE_RX = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower-case, plain ASCII-ish text with contractions expanded and punctuation as spaces."""
    return normalise_canonical(canonical(text))


@lru_cache(maxsize=8192)
def normalise_canonical(text: str) -> str:
    """`normalise` of a text that is already canonical (a sentence of `canonical(message)`): the
    rules read every sentence of a message, and making each canonical again is a third of their time."""
    text = text.lower()
    for any_of, group in _CONTRACTION_GROUPS if _ANY_CONTRACTION.search(text) else ():
        # none of the group matches: each of its substitutions would leave the text as it is
        if any_of.search(text):
            for rx, repl, needs in group:
                if may_match(needs, text):
                    text = rx.sub(repl, text)
    if "." in text:
        text = _DECIMAL_POINT.sub("p", text)  # 38.6 -> 38p6, kept as one token
    if "-" in text or "\u2013" in text or "\u2014" in text:
        text = _SPACED_DASH.sub(" , ", _DASHED_ANSWER.sub(" : ", text))  # a spaced dash joins two clauses
    text = text.replace("'s ", " ").replace("'", "")
    text = _NON_WORD_RX.sub(" ", text)
    text = text.replace(",", " , ")
    text = _SPACE_RX.sub(" ", text).strip()
    c = _compiled()
    if c.any_spoken.search(text):  # "no bowl control", "my legs feel week" (`spoken_forms`)
        for rx, means, needs in c.spoken:
            if may_match(needs, text):
                text = rx.sub(means, text)
    return text
