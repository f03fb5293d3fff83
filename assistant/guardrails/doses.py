"""Overdoses told as numbers ("10 of the 500mg paracetamol in one go") or as a whole supply ("all my pills").

The medicines, their strengths and the adult limits are reviewed data (`knowledge/safety/medicines.yaml`);
this module only reads a message. One compiled pattern finds every piece it knows in a single pass
(numbers, strengths, medicine names, "every 4 hours", "in one go", clause breaks, the stock forms);
a small state machine then joins the pieces into intakes (count x strength x medicine, and when),
adds each active ingredient across products, and compares it with the limits. It never judges
negation, hypotheticals or whose story it is: it returns the spans it read, and the caller's
context analysis decides.

>>> found = overdose("I took about 10 of the extra strength 500mg paracetamol this morning in one go")
>>> [f.evidence for f in found.findings]  # doctest: +NORMALIZE_WHITESPACE
['paracetamol about 5,000 mg at once (10 x 500 mg paracetamol); the most in one dose is 1,000 mg',
 'paracetamol about 5,000 mg a day (10 x 500 mg paracetamol this morning); the most in 24 hours is 4,000 mg']
>>> overdose("2 paracetamol 3 times a day") is None
True
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from assistant.content import read_yaml, validate
from assistant.errors import ConfigError
from assistant.schema import Strict

# ---------------------------------------------------------------------------------------------
# The file's schema


class Ingredient(Strict):
    """An active ingredient's adult ceilings in mg; `None` when it is titrated with no fixed ceiling."""

    id: str = Field(pattern=r"^[a-z][a-z-]*$")
    max_single_mg: float | None = Field(gt=0)
    max_daily_mg: float | None = Field(gt=0)
    otc_note: str = ""
    # ingredients of one kind (the anti-inflammatories): two of them taken together add up the same risk
    group: str | None = Field(None, pattern=r"^[a-z][a-z-]*$")
    source: str = Field(min_length=5)


class Medicine(Strict):
    """A product as patients name it, and what one usual unit of it contains when no strength is given."""

    id: str = Field(pattern=r"^[a-z][a-z-]*$")
    names: list[str] = Field(min_length=1)
    contains: dict[str, float] = Field(min_length=1)
    strengths: list[float] = Field(default_factory=list)
    sedating: bool = False  # slows breathing or wakefulness: `{sedative}` in the stock forms
    source: str = Field(min_length=5)
    fire: list[str] = Field(default_factory=list)
    quiet: list[str] = Field(default_factory=list)


class StockForm(Strict):
    """Wording that means a whole supply or a doubled dose, reported whatever the numbers."""

    id: str = Field(pattern=r"^[a-z][a-z_]*$")
    means: str = Field(min_length=5)
    pattern: str
    not_after: str | None = None
    needs_medicine: bool = False
    # reported only when the first number in the match is at least twice the second ("4 instead of 2")
    more_than: bool = False
    # words without which the form cannot match ("wine|vodka|..."): the form is then read apart, only in
    # texts that have one, so that the one pass over every text stays as fast as it was
    needs: str | None = None
    # reported only when the last number in the match is larger than the first ("the box says 8 ... I've had 12")
    exceeds: bool = False
    fire: list[str] = Field(min_length=1)
    quiet: list[str] = Field(min_length=1)


class Words(Strict):
    every_n_hours_day: float = Field(24, gt=0, le=24)
    took: list[str] = Field(min_length=1)
    at_once: list[str] = Field(min_length=1)
    once_a_day: list[str] = Field(min_length=1)
    in_a_day: list[str] = Field(min_length=1)
    alcohol: list[str] = Field(min_length=1)
    others: list[str] = Field(min_length=1)
    # words between two products that say one replaced the other, not both taken ("switched from naproxen to ibuprofen")
    not_both: list[str] = Field(min_length=1)
    asking: list[str] = Field(min_length=1)
    on_the_skin: list[str] = Field(min_length=1)
    # words between two counted products that say they were taken at different times ("2 co-codamol at 8
    # and a Lemsip at 2"): their shared ingredient is then not summed as one dose
    apart: list[str] = Field(min_length=1)


class MedicinesFile(Strict):
    ingredients: list[Ingredient] = Field(min_length=1)
    medicines: list[Medicine] = Field(min_length=1)
    stock_forms: list[StockForm] = Field(min_length=1)
    words: Words

    @model_validator(mode="after")
    def _consistent(self) -> MedicinesFile:
        known = {i.id for i in self.ingredients}
        if len(known) != len(self.ingredients):
            raise ValueError("an ingredient is listed twice")
        owner: dict[str, str] = {}
        for med in self.medicines:
            if unknown := set(med.contains) - known:
                raise ValueError(f"medicine {med.id!r} contains unknown ingredients {sorted(unknown)}")
            for name in med.names:
                key = _key(name)
                if owner.setdefault(key, med.id) != med.id:
                    raise ValueError(f"name {name!r} belongs to both {owner[key]!r} and {med.id!r}")
        for form in self.stock_forms:
            for label, pattern in (("pattern", form.pattern), ("not_after", form.not_after or "")):
                try:
                    compiled = re.compile(_fill(pattern, "x", "x", "x", "x", "x"))
                except re.error as exc:
                    raise ValueError(f"stock form {form.id!r}: {label} does not compile: {exc}") from exc
                if compiled.groups:
                    raise ValueError(f"stock form {form.id!r}: {label} has a capturing group; use (?:...)")
        return self


# ---------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason to worry: a dose or a day over the limit, or a stock form; `evidence` is for a clinician."""

    kind: Literal["dose", "day", "stock", "both"]
    ingredients: tuple[str, ...]
    evidence: str
    spans: tuple[tuple[int, int], ...]
    amount_mg: float | None = None
    limit_mg: float | None = None


@dataclass(frozen=True, slots=True)
class Overdose:
    """Everything found in one message; spans index the text as given."""

    findings: tuple[Finding, ...]

    @property
    def evidence(self) -> str:
        return "; and ".join(f.evidence for f in self.findings)

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        return _merge(s for f in self.findings for s in f.spans)

    @property
    def ingredients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i for f in self.findings for i in f.ingredients))


# ---------------------------------------------------------------------------------------------
# The one pattern

_UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_WORD_VALUES: dict[str, float] = {w: i + 1 for i, w in enumerate(_UNITS)}
_WORD_VALUES |= {w: i + 10 for i, w in enumerate(_TEENS)}
for _t, _tens in enumerate(_TENS):
    _WORD_VALUES[_tens] = 20 + 10 * _t
    _WORD_VALUES |= {f"{_tens} {u}": 21 + 10 * _t + i for i, u in enumerate(_UNITS)}
_WORD_VALUES |= {
    "hundred": 100, "a hundred": 100, "one hundred": 100, "a dozen": 12, "half a dozen": 6, "dozen": 12,
    "a couple of": 2, "a couple": 2, "couple of": 2, "half a": 0.5, "half an": 0.5, "half": 0.5,
    "a": 1, "an": 1, "twice": 2, "thrice": 3, "other": 2, "second": 2,
}  # fmt: skip


def _trie(items: Iterable[str], gap: str) -> str:
    """One alternation factored by shared beginnings ("para(?:cetamol|s)?"): a word that cannot match
    fails after a character or two instead of after every phrase. Spaces and hyphens become `gap`."""
    root: dict[str, dict[str, Any]] = {}
    for item in items:
        node = root
        for atom in re.findall(r"[\s-]+|.", item.lower()):
            node = node.setdefault(" " if atom.isspace() or "-" in atom else atom, {})
        node[""] = {}
    return _emit(root, gap)


def _emit(node: dict[str, dict[str, Any]], gap: str) -> str:
    branches = [(gap if k == " " else re.escape(k)) + _emit(child, gap) for k, child in node.items() if k]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if "" in node else body


_WORD = _trie(
    (w for w in _WORD_VALUES if w not in {"a", "an", "twice", "thrice", "other", "second", "half", "dozen"}), r"[\s-]+"
)
_N = rf"(?:\d+(?:\.\d+)?|{_WORD})"
_NR = rf"{_N}(?:\s?(?:-|to|or)\s?{_N})?"  # "2-3", "two or three": the engine takes the cautious end
_DAY = r"(?:day|24\s?(?:hours?|hrs?|h))"
_TIMES = rf"(?:{_NR}\s?(?:times?|x)|twice|thrice)"
_NUMBER_IN = re.compile(rf"(?<![\d.])\d+(?:\.\d+)?|(?<!\w)(?:{_WORD}|half|other|second)(?!\w)", re.I)
_BREAK = r"then|but|so|instead|because|although|though|however|whereas|otherwise|except|unless|after\sthat|later"
_REASON = re.compile(r"(?<!\w)(?:because|cos|coz|cause|so)(?!\w)")  # the breaks after which a count goes on telling
# words that cannot lie between a count and its medicine ("I'm 45 and take paracetamol")
_GAP_STOP = re.compile(
    r"(?<!\w)(?:and|or|i|i'?m|am|is|are|was|were|be|been|take|takes|took|taking|taken|had|have|has|having|with"
    r"|for|to|at|on|in|after|before|when|if|years?|old|aged|also|plus|every|per|a\sday)(?!\w)",
    re.I,
)
_GENERIC = r"tablets?|tabs?|pills?|capsules?|caps|caplets?|meds|medications?|medicines?|painkillers?"
_UNIT_WORDS = r"tablets?|tabs?|pills?|capsules?|caps|caplets?|sachets?|doses?|spoonfuls?|spoons?"
# the nouns the stock forms turn on ("the whole packet", "everything in the cabinet", "more than prescribed")
_STOCK_NOUNS = (
    r"packet|pack|box|bottle|strip|blister|tub|supply|prescription|lot|everything|prescribed|label|leaflet"
    r"|dose|amount|cabinet|cupboard|drawer|stash|dosette|max|maximum|more\sthan|limit"
)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _fill(pattern: str, med: str, took: str, sedative: str, drink: str, other: str) -> str:
    """A stock form's pattern with its placeholders: `{med}` any medicine, `{sedative}` one that slows breathing,
    `{took}` a verb of taking, `{drink}` alcohol, `{other}` someone whose medicine it is, `{n}` a number."""
    filled = {"med": med, "took": took, "sedative": sedative, "drink": drink, "other": other, "n": _N}
    return re.sub(r"\{(med|took|sedative|drink|other|n)\}", lambda m: f"(?:{filled[m.group(1)]})", pattern)


def _fillers(f: MedicinesFile) -> tuple[str, str, str, str, str]:
    """What `_fill` puts for `{med}`, `{took}`, `{sedative}`, `{drink}` and `{other}`, read from the file."""
    w = f.words
    return (
        f"{_names(f)}|{_GENERIC}",
        _trie(w.took, r"\s+"),
        f"{_names(f, sedating=True)}s?",
        _trie(w.alcohol, r"\s+"),
        _trie(w.others, r"\s+"),
    )


def _names(f: MedicinesFile, *, sedating: bool = False) -> str:
    return _trie((n for m in f.medicines if m.sedating or not sedating for n in m.names), r"[\s\-‐‑]?")


_CLOCK = r"\d{1,2}(?:[:.]\d\d)?(?:\s?[ap]m)?"
_CLOCK_RX = re.compile(r"\d{1,2}(?:[:.]\d\d)?")


def _build(f: MedicinesFile) -> re.Pattern[str]:
    med = _names(f)
    w = f.words
    took, once, at_once, in_a_day = (_trie(words, r"\s+") for words in (w.took, w.once_a_day, w.at_once, w.in_a_day))
    fill = _fillers(f)
    groups = [f"(?P<stock{i}>{_fill(s.pattern, *fill)})" for i, s in enumerate(f.stock_forms) if s.needs is None]
    groups += [
        rf"(?P<verb>{took})",
        rf"(?P<every>every\s(?:{_NR}\s?|other\s|second\s)?(?:hours?|hrs?|h)|{_NR}[\s-]?hourly|hourly)",
        rf"(?P<minutes>every\s{_NR}\s?(?:minutes?|mins?))",
        rf"(?P<times>{_TIMES}\s?(?:a|per|each|every|in\sa|in\sone|in\sthe|in)\s{_DAY}|{_TIMES}\sdaily|bd|bid|tds|tid|qds|qid"
        rf"|{_TIMES}(?=\s(?:today|yesterday|tonight|last\snight|since|so\sfar|this\s(?:morning|afternoon|evening))))",
        rf"(?P<once>{once})",
        rf"(?P<single>{at_once})",
        rf"(?P<period>since\syesterday|over\sthe\sweekend|(?:this|a|per|each|in\sa|last|the\spast|the\slast)\sweek"
        rf"|weekly|(?:for|over|in|during)\s(?:the\s)?(?:last\s|past\s)?{_NR}\s(?:days?|weeks?))",
        # "since 7am", "since breakfast": one day's doses so far
        rf"(?P<day>{in_a_day}|since\s(?:{_CLOCK}|first\sthing|breakfast|lunch(?:time)?|midday|noon|i\swoke|i\sgot\sup))",
        # doses listed by the clock ("at 8, 12, 4 and 8"): as many a day as times listed
        rf"(?P<clock>at\s{_CLOCK}(?:\s?,\s?{_CLOCK})*\s?,?\s(?:and|&)\s{_CLOCK}(?!\s(?:at|o'?clock)\b))",
        r"(?P<ignore>at\s(?:\d{1,2}(?:[:.]\d\d)?(?:\s?[ap]m)?|noon|midday|midnight|breakfast|lunch(?:time)?|tea(?:time)?"
        r"|dinner(?:time)?|supper(?:time)?|bedtime)|\d{1,2}(?:[:.]\d\d)?\s?(?:[ap]m|o'?clock)|\d{1,2}:\d\d"
        rf"|{_NR}\s?(?:hours?|hrs?|minutes?|mins?|days?|weeks?|wks?|months?|years?|yrs?|ml|mls|millilitres?|mcg"
        r"|micrograms?|kg|kilos?|stone|st|lbs?|pounds?|percent|%|cm|reps?|sets?|times|miles?|km|degrees|out\sof\s10|/10))",
        r"(?P<pair>\d{1,2}(?:\.\d)?\s?/\s?\d{3,4}(?:\s?mg)?)",
        rf"(?P<mg>{_NR}\s?(?:mg|mgs|milligrams?))",
        rf"(?P<grams>{_NR}\s?(?:g|gm|grams?))",
        r"(?P<plural>\d{2,4}s)",
        rf"(?P<x>x\s?{_N}|{_N}\s?x)",
        # a count in words first: "a dozen", "a couple of", "half a dozen" are numbers, not the article
        rf"(?P<num>{_NR})",
        r"(?P<a>an?)(?=\s)",
        rf"(?P<med>(?:{med})s?)",
        rf"(?P<unit>{_UNIT_WORDS})",
        r"(?P<more>more|of\s(?:them|those|these|it))",
        rf"(?P<clause>{_BREAK})",
    ]
    # matched against lower-cased text: case-blind matching costs the engine its fast paths
    return re.compile(rf"(?P<stop>[.!?;\n])|(?<!\w)(?:{'|'.join(groups)})(?!\w)")


# ---------------------------------------------------------------------------------------------
# The engine


@dataclass(frozen=True, slots=True)
class _Product:
    id: str
    contains: tuple[tuple[str, float], ...]
    strengths: frozenset[float]


@dataclass(frozen=True, slots=True)
class _Stock:
    form: StockForm
    not_after: re.Pattern[str] | None
    needs: re.Pattern[str] | None = None  # read apart (`StockForm.needs`): the needle, then the form itself
    alone: re.Pattern[str] | None = None


@dataclass(slots=True)
class Engine:
    """The file, compiled: build once per path with `engine()`."""

    file: MedicinesFile
    pattern: re.Pattern[str]
    names: re.Pattern[str]
    products: dict[str, _Product]
    limits: dict[str, Ingredient]
    stock: tuple[_Stock, ...]
    day_hours: float
    not_both: re.Pattern[str]
    asking: re.Pattern[str]
    on_the_skin: re.Pattern[str]
    apart: re.Pattern[str]
    # a word without which nothing here can be read (a medicine, a unit, a stock form's noun): most
    # messages do not mention medicines, and this one search spares them the full pass
    gate: re.Pattern[str] = re.compile(r"(?!x)x")


@dataclass(slots=True)
class _Tok:
    kind: str
    start: int
    end: int
    text: str


@dataclass(eq=False, slots=True)
class _Marker:
    kind: str  # rate | single | day | period
    per_day: float  # rate: times a day; period: days
    tok: _Tok


@dataclass(eq=False, slots=True)
class _Intake:
    product: _Product
    name: str
    count: float | None
    mg: dict[str, float]
    stated: bool
    spans: list[tuple[int, int]]
    sentence: int
    ambiguous: bool = False
    more: bool = False
    told_taken: bool = False  # a verb of taking came before it in its sentence
    # no verb in its sentence, but the sentence before told this medicine as taken ("I've been taking
    # co-codamol ... So roughly 10 co-codamol since 7am"): an intake when its own sentence gives the day
    carried: bool = False
    slots: dict[str, _Marker] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.spans[-1][1]


def default_path() -> Path:
    """The checkout's copy beside this code when there is one (a worktree's own file), else the package's."""
    beside = Path(__file__).resolve().parents[2] / "knowledge" / "safety" / "medicines.yaml"
    if beside.is_file():
        return beside
    return Path(str(resources.files("physio_knowledge"))) / "safety" / "medicines.yaml"


def load_medicines(path: Path | None = None) -> MedicinesFile:
    """Read and validate the file; a typo fails loudly as `file: field: problem`."""
    path = path or default_path()
    if not path.is_file():
        raise ConfigError(f"{path}: (file): medicines file not found; reinstall physio-assistant")
    return validate(MedicinesFile, read_yaml(path), path)


@lru_cache(maxsize=4)
def engine(path: Path | None = None) -> Engine:
    """The file at `path`, validated and compiled once per process."""
    f = load_medicines(path)
    products: dict[str, _Product] = {}
    for m in f.medicines:
        product = _Product(m.id, tuple(m.contains.items()), frozenset(m.strengths))
        products |= {_key(n): product for n in m.names}
    fill = _fillers(f)
    stock = tuple(_stock_of(s, fill) for s in f.stock_forms)
    limits = {i.id: i for i in f.ingredients}
    names_pattern = re.compile(rf"(?<!\w)(?:{_names(f)})s?(?!\w)", re.I)
    gate = re.compile(rf"(?<!\w)(?:{_names(f)}|{_GENERIC}|{_UNIT_WORDS}|{_STOCK_NOUNS})s?(?!\w)|doubl")
    between, asking, skin, apart = (
        _trie(words, r"\s+") for words in (f.words.not_both, f.words.asking, f.words.on_the_skin, f.words.apart)
    )
    not_both = re.compile(rf"(?<!\w)(?:{between})(?!\w)")
    return Engine(
        f, _build(f), names_pattern, products, limits, stock, f.words.every_n_hours_day, not_both,
        re.compile(rf"(?<!\w)(?:{asking})(?!\w)"), re.compile(rf"\s(?:{skin})(?!\w)"),
        re.compile(rf"(?<!\w)(?:{apart})(?!\w)"), gate,
    )  # fmt: skip


def _stock_of(form: StockForm, fill: tuple[str, str, str, str, str]) -> _Stock:
    not_after = re.compile(form.not_after, re.I) if form.not_after else None
    if form.needs is None:
        return _Stock(form, not_after)
    alone = re.compile(rf"(?<!\w)(?:{_fill(form.pattern, *fill)})(?!\w)")
    return _Stock(form, not_after, re.compile(rf"(?<!\w)(?:{form.needs})"), alone)


def _numbers(text: str) -> list[float]:
    values = []
    for t in _NUMBER_IN.findall(text):
        words = " ".join(t.lower().replace("-", " ").split())
        values.append(float(t) if t[0].isdigit() else _WORD_VALUES.get(words, 0.0))
    return values


def _words_between(text: str, a: int, b: int) -> int | None:
    """Words between two pieces, or None when a comma, colon, bracket, verb or too much text lies between."""
    if b - a > 60:
        return None
    gap = text[a:b]
    if any(c in gap for c in ",:()") or _GAP_STOP.search(gap):
        return None
    return len(gap.split())


def _told_next(text: str, before: _Intake, count: _Tok, tok: _Tok, sentence: int, *, clause: bool = False) -> bool:
    """A bare count told as taken, with its timing, in the sentence after the only medicine named, or
    (`clause`) in a later clause of the same one, when dictation left out the full stop ("how many
    paracetamol can you have in a day because I've had ten today", "the co-codamol wasn't doing anything
    so I've been taking 4 at a time")."""
    if count.kind != "num" or before.ambiguous:
        return False
    reason = _REASON.search(text, before.end, count.start) if clause and before.sentence == sentence else None
    # "so I've been taking 4 at a time" goes on telling; "so 8 a day" only sums up what was told
    later_clause = reason and (reason.group() != "so" or len(text[reason.end() : count.start].split()) >= 2)
    if before.sentence != sentence - 1 and not later_clause:
        return False
    return _words_between(text, count.end, tok.start) == 0


def _takes_late_count(text: str, last: _Intake, count: _Tok) -> bool:
    """A count just after a medicine without one, before its timing ("tramadol 50mg, two every 6 hours")."""
    if count.kind == "a" or last.count is not None or last.ambiguous:
        return False
    return 0 <= count.start - last.end <= 16 and len(text[last.end : count.start].replace(",", " ").split()) <= 1


def _product(eng: Engine, text: str) -> _Product | None:
    key = _key(text)
    return eng.products.get(key) or eng.products.get(key[:-1])


def _with_strength(product: _Product, tok: _Tok) -> dict[str, float] | None:
    """mg of each ingredient in one unit, the stated strength filled in; None when it cannot apply."""
    mg = dict(product.contains)
    first = product.contains[0][0]
    if tok.kind == "pair":
        values = _numbers(tok.text)
        if len(product.contains) < 2 or len(values) < 2:
            return None
        for (ingredient, _), value in zip(product.contains, values, strict=False):
            mg[ingredient] = value
        return mg
    values = _numbers(tok.text)
    if not values:
        return None
    value = min(values) * (1000 if tok.kind == "grams" else 1)
    if value in {v for i, v in product.contains if i != first}:
        return mg  # "co-codamol 500mg" names the paracetamol already counted
    mg[first] = value
    return mg


def _read(eng: Engine, text: str) -> tuple[list[_Intake], list[tuple[_Stock, _Tok]], list[_Tok]]:
    tokens = [_Tok(m.lastgroup or "", m.start(), m.end(), m.group()) for m in eng.pattern.finditer(text)]
    intakes: list[_Intake] = []
    stocks: list[tuple[_Stock, _Tok]] = []
    meds: list[_Tok] = []
    count: _Tok | None = None
    strength: _Tok | None = None
    unmarked: list[_Intake] = []
    last_group: list[_Intake] = []
    forward: list[_Marker] = []
    last: _Intake | None = None  # the last intake in this clause
    last_any: _Intake | None = None
    sentence = 0

    dangling = False  # a count read since the last marker that no medicine took
    taken = False  # a verb of taking seen in this sentence
    taken_before: set[str] = set()  # the medicines the sentence before told as taken
    sentence_start = 0

    def close_clause() -> None:
        nonlocal count, strength, last, dangling
        count = strength = last = None
        dangling = False
        unmarked.clear()
        last_group.clear()
        forward.clear()

    for i, tok in enumerate(tokens):
        kind = tok.kind
        if kind.startswith("stock"):
            stocks.append((eng.stock[int(kind[5:])], tok))
            continue
        if kind == "stop" and last_any and _counted_last(text, last_any, count, tok, taken, sentence, last):
            assert count is not None
            intakes.append(_told_alone(last_any, count, tok, sentence))
        if kind in ("stop", "clause"):
            close_clause()
            if kind == "stop":
                # "?\n" ends one sentence, not two: a sentence counts only when a piece came since the last stop
                if not (i and tokens[i - 1].kind == "stop"):
                    taken_before = {x.product.id for x in intakes if x.sentence == sentence and x.told_taken}
                    sentence += 1
                sentence_start = tok.end
                taken = False
            continue
        if kind == "verb":
            taken = True
            continue
        if kind == "num" and last and not last.stated and _words_between(text, last.end, tok.start) == 0:
            value = min(_numbers(tok.text) or [0])
            if value in last.product.strengths:  # "ibuprofen 400"
                last.mg = _with_strength(last.product, _Tok("mg", tok.start, tok.end, tok.text)) or last.mg
                last.stated = True
                last.spans.append((tok.start, tok.end))
                continue
        if kind in ("num", "a"):
            count = tok
            dangling = True
        elif kind == "x":
            after = tok.text.lower().startswith("x") and last and last.count is None and not last.ambiguous
            if after and last and _words_between(text, last.end, tok.start) == 0:
                last.count = min(_numbers(tok.text) or [1])
                last.spans.append((tok.start, tok.end))
                continue
            count = tok
        elif kind in ("mg", "grams", "pair", "plural"):
            after_med = last is not None and (count is None or count.start < last.spans[0][0])
            gap = _words_between(text, last.end, tok.start) if last is not None else None
            # "ibuprofen 200s", but "in my 30s" is an age unless it touches the name
            plural_ok = kind != "plural" or gap == 0 or min(_numbers(tok.text) or [0]) >= 100
            if last is not None and after_med and not last.stated and gap is not None and gap <= 1 and plural_ok:
                mg = _with_strength(last.product, _Tok("mg" if kind == "plural" else kind, 0, 0, tok.text))
                if mg is not None:
                    last.mg, last.stated = mg, True
                    last.spans.append((tok.start, tok.end))
                continue
            if kind != "plural" or min(_numbers(tok.text) or [0]) >= 100:
                strength = tok
        elif kind == "med":
            meds.append(tok)
            product = _product(eng, tok.text)
            if product is None:
                continue
            intake = _intake(eng, text, product, tok, count, strength, sentence)
            count = strength = None
            intake.told_taken = taken
            summed = any(x.carried and x.sentence == sentence for x in intakes)  # "... and 6 paracetamol"
            carried = product.id in taken_before and (summed or _summing(text, sentence_start, intake))
            intake.carried = not taken and carried
            for marker in forward:
                intake.slots.setdefault(marker.kind, marker)
            intakes.append(intake)
            unmarked.append(intake)
            last = last_any = intake
            dangling = False
        elif kind == "unit":
            nxt = _next_kind(tokens, i, "med")
            gap = _words_between(text, tok.end, nxt.start) if nxt else None
            if gap is not None and gap <= 3:
                continue  # "2 tablets of (50mg) paracetamol": the name follows
            dangling = True
            target = last_any if last_any and last_any.sentence == sentence else None
            if count and target and target.count is None and not target.ambiguous:
                target.count = min(_numbers(count.text) or [1])
                target.spans += [(count.start, count.end), (tok.start, tok.end)]
            count = None
        elif kind == "more":
            if i + 1 < len(tokens) and tokens[i + 1].kind == "med":
                continue  # "2 more tramadol": the name follows
            if count and last_any and _words_between(text, count.end, tok.start) == 0:
                intake = _again(last_any, count, tok, sentence)
                intakes.append(intake)
                unmarked.append(intake)
                last = last_any = intake
            count = None
        elif kind == "ignore" and tok.text.startswith("at ") and count and last_any and last_any.sentence == sentence:
            # "2 paracetamol at 8, 2 at 10, 2 at 12": each count told with its time is another dose of it;
            # "paracetamol too, 2 at lunch and 2 at teatime": the first count is the medicine's own
            first = last_any.count is None and not last_any.ambiguous and count.start > last_any.end
            told_with_time = _words_between(text, count.end, tok.start) == 0
            if first and told_with_time:
                last_any.count = min(_numbers(count.text) or [1])
                last_any.spans.append((count.start, tok.end))
            elif last_any.count is not None and told_with_time:
                intake = _again(last_any, count, tok, sentence)
                intakes.append(intake)
                unmarked.append(intake)
                last = last_any = intake
            count = None
        elif kind in ("every", "minutes", "times", "clock", "once", "single", "day", "period"):
            if (
                count
                and last is None
                and last_any
                and taken
                and _told_next(text, last_any, count, tok, sentence, clause=True)
            ):
                # "how many paracetamol is too many? I've had 14 since yesterday": the count is of it
                intake = _again(last_any, count, tok, sentence)
                intake.told_taken = True
                intakes.append(intake)
                unmarked.append(intake)
                last = last_any = intake
                dangling = False
            if count and last and _takes_late_count(text, last, count):
                last.count = min(_numbers(count.text) or [1])  # "tramadol 50mg two every 6 hours"
                last.spans.append((count.start, count.end))
                dangling = False
            count = None
            mark = _marker(eng, tok)
            if mark is None:
                continue
            # a second marker belongs to the same intakes ("this morning in one go"), unless a count
            # nobody took has come between ("8 paracetamol a day, 2 tablets every 6 hours")
            targets = list(unmarked) or ([] if dangling else list(last_group))
            if targets:
                for intake in targets:
                    intake.slots.setdefault(mark.kind, mark)
                last_group[:] = targets
                unmarked.clear()
            elif not dangling:
                forward.append(mark)
            dangling = False
    end = _Tok("stop", len(text), len(text), "")
    if last_any and _counted_last(text, last_any, count, end, taken, sentence, last):
        assert count is not None
        intakes.append(_told_alone(last_any, count, end, sentence))
    return intakes, stocks, meds


_SUMMING = re.compile(
    r"(?:\W*\b(?:so|that'?s|that\sis|that\smakes|which\sis|making|roughly|about|around|approx\w*|maybe|probably"
    r"|like|in\stotal|altogether|total|basically|i\sthink|so\sfar|and|plus)\b)*\W*"
)


def _summing(text: str, start: int, intake: _Intake) -> bool:
    """The sentence sums up before its first count ("So roughly 10 co-codamol ..."), with no verb of its
    own: "I bought 32 today" is no intake."""
    first = min((a for a, _ in intake.spans), default=start)
    return _SUMMING.fullmatch(text, start, first) is not None


def _counted_last(
    text: str, before: _Intake, count: _Tok | None, stop: _Tok, taken: bool, sentence: int, last: _Intake | None
) -> bool:
    """A bare count that ends a sentence told as taken, after a sentence naming one medicine ("how many
    co-codamol can I take? took 20"): the count is of it, its time not given (counted as one day)."""
    if count is None or last is not None or not taken or count.kind != "num":
        return False
    return _told_next(text, before, count, stop, sentence) or (
        before.sentence == sentence - 1 and not before.ambiguous and not text[count.end : stop.start].strip(" ,!?.")
    )


def _told_alone(like: _Intake, count: _Tok, tok: _Tok, sentence: int) -> _Intake:
    intake = _again(like, count, tok, sentence)
    intake.told_taken = True
    intake.spans = [(count.start, count.end)]
    return intake


def _again(like: _Intake, count: _Tok, tok: _Tok, sentence: int) -> _Intake:
    """Another dose of the medicine just read ("2 more", "2 at 10"), `count` of it."""
    return _Intake(
        like.product,
        like.name,
        min(_numbers(count.text) or [0]),
        dict(like.mg),
        like.stated,
        [(count.start, tok.end)],
        sentence,
        more=True,
        told_taken=like.told_taken,
    )


def _next_kind(tokens: list[_Tok], i: int, kind: str) -> _Tok | None:
    """The next token of `kind`, looking past at most one strength ("tablets of 50mg tramadol")."""
    for tok in tokens[i + 1 : i + 3]:
        if tok.kind == kind:
            return tok
        if tok.kind not in ("mg", "grams", "pair", "plural"):
            return None
    return None


_COUNTED = re.compile(r"\s+of\s(?:my|the|his|her|their|those|these|our|your)\s")


def _intake(
    eng: Engine, text: str, product: _Product, tok: _Tok, count: _Tok | None, strength: _Tok | None, sentence: int
) -> _Intake:
    spans = [(tok.start, tok.end)]
    value: float | None = None
    ambiguous = False
    mg = dict(product.contains)
    stated = False
    if strength is not None:
        gap = _words_between(text, strength.end, tok.start)
        filled = _with_strength(product, strength) if gap is not None and gap <= 3 else None
        if filled is not None:
            mg, stated = filled, True
            spans.insert(0, (strength.start, strength.end))
    if count is not None:
        gap = _words_between(text, count.end, tok.start)
        limit = 1 if count.kind == "a" else 5
        if gap is not None and gap <= limit:
            value = min(_numbers(count.text) or [1])
            spans.insert(0, (count.start, count.end))
            counted = _COUNTED.match(text, count.end, tok.start) is not None  # "30 of my co-codamol"
            if count.kind == "num" and not stated and value in product.strengths and not counted:
                if value >= 100:  # "400 ibuprofen" is a strength, nobody takes 400 tablets
                    mg = _with_strength(product, _Tok("mg", 0, 0, count.text)) or mg
                    value, stated = None, True
                else:  # "25 amitriptyline": 25 tablets or 25 mg? Left to the caller's other checks.
                    ambiguous = True
    name = " ".join(tok.text.lower().split())
    return _Intake(product, name, value, mg, stated, spans, sentence, ambiguous)


def _marker(eng: Engine, tok: _Tok) -> _Marker | None:
    values = _numbers(tok.text)
    kind = tok.kind
    if kind == "every":
        hours = max(values) if values else 1.0  # "every 4-6 hours": the longer gap
        return _Marker("rate", eng.day_hours / hours, tok) if hours > 0 else None
    if kind == "minutes":
        return _Marker("rate", eng.day_hours * 60 / max(values), tok) if values and max(values) > 0 else None
    if kind == "times":
        times = {"bd": 2, "bid": 2, "tds": 3, "tid": 3, "qds": 4, "qid": 4}.get(tok.text.lower())
        return _Marker("rate", times or min(values or [1]), tok)
    if kind == "once":
        return _Marker("rate", 1, tok)
    if kind == "clock":
        return _Marker("rate", len(_CLOCK_RX.findall(tok.text)), tok)
    if kind == "period":
        # "since yesterday" is often less than a day and a half ("since yesterday lunchtime", and now it
        # is the morning): read as 1.5 days, the cautious side of the two it may span
        low = tok.text.lower()
        days = min(values) if values else (1.5 if "yesterday" in low else 2 if "weekend" in low else 7)
        if "week" in low and values:
            days *= 7
        return _Marker("period", days, tok) if days > 0 else None
    return _Marker(kind, 1, tok)  # single | day


def _mg(n: float) -> str:
    return f"{n:,.0f} mg" if n >= 10 else f"{n:g} mg"


def _describe(intakes: list[_Intake], ingredient: str) -> str:
    return ", ".join(f"{i.count:g} x {_mg(i.mg[ingredient])} {i.name}" for i in intakes)


def _spans(intakes: Iterable[_Intake]) -> tuple[tuple[int, int], ...]:
    found: list[tuple[int, int]] = []
    for i in intakes:
        found += i.spans
        found += [(m.tok.start, m.tok.end) for m in i.slots.values()]
    return _merge(found)


def _merge(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _numeric(eng: Engine, intakes: list[_Intake]) -> list[Finding]:
    # a total ("12 today", "10" with no time) is an intake only when told as taken: "I have 100
    # paracetamol at home" and "bought 32 today" are not; a regimen ("2 every 4 hours") needs no verb
    readable = [i for i in intakes if not i.ambiguous and (i.count is not None or i.stated)]
    usable = [i for i in readable if i.told_taken or _occasion(i) is not None or (i.carried and "day" in i.slots)]
    for i in usable:
        if i.count is None:
            i.count = 1  # "ibuprofen 400 every 2 hours": one tablet of the strength given
    # the same untimed intake told twice ("I took 8 paracetamol ... the 8 paracetamol") counts once
    seen: set[tuple[str, float | None, tuple[tuple[str, float], ...]]] = set()
    kept: list[_Intake] = []
    for i in usable:
        key = (i.product.id, i.count, tuple(sorted(i.mg.items())))
        if not i.slots and not i.more:
            if key in seen:
                continue
            seen.add(key)
        kept.append(i)
    findings: list[Finding] = []
    # a day's total told after the doses ("2 every 4 hours. So 10 since 7am") may restate them: it is
    # weighed on its own, never added to them
    for part in ([i for i in kept if not i.carried], [i for i in kept if i.carried]):
        by_ingredient: dict[str, list[_Intake]] = defaultdict(list)
        for i in part:
            for ingredient in i.mg:
                by_ingredient[ingredient].append(i)
        for ingredient, group in by_ingredient.items():
            limit = eng.limits[ingredient]
            if limit.max_single_mg is not None:
                findings += _over_single(ingredient, group, limit.max_single_mg)
            if limit.max_daily_mg is not None:
                findings += _over_day(ingredient, group, limit.max_daily_mg)
    return findings


def _occasion(i: _Intake) -> _Marker | None:
    return i.slots.get("single") or i.slots.get("rate")


def _over_single(ingredient: str, group: list[_Intake], limit: float) -> list[Finding]:
    occasions: dict[int, list[_Intake]] = defaultdict(list)
    markers: dict[int, _Marker] = {}
    for i in group:
        if (m := _occasion(i)) is not None:
            occasions[id(m)].append(i)
            markers[id(m)] = m
    worst: tuple[float, int] | None = None
    for key, members in occasions.items():
        total = sum((i.count or 0) * i.mg[ingredient] for i in members)
        if total > limit and (worst is None or total > worst[0]):
            worst = (total, key)
    if worst is None:
        return []
    total, key = worst
    members, marker = occasions[key], markers[key]
    when = "at once" if marker.kind == "single" else f"in each dose ({' '.join(marker.tok.text.lower().split())})"
    told = _describe(members, ingredient)
    evidence = f"{ingredient} about {_mg(total)} {when} ({told}); the most in one dose is {_mg(limit)}"
    return [Finding("dose", (ingredient,), evidence, _spans(members), total, limit)]


def _per_day(i: _Intake, ingredient: str) -> tuple[float, str]:
    amount = (i.count or 0) * i.mg[ingredient]
    if (rate := i.slots.get("rate")) is not None and "single" not in i.slots:
        text = " ".join(rate.tok.text.lower().split())
        return amount * rate.per_day, f"{text}, {rate.per_day:g} times a day"
    if "single" in i.slots or "day" in i.slots:
        m = i.slots.get("day") or i.slots["single"]
        return amount, " ".join(m.tok.text.lower().split())
    if (period := i.slots.get("period")) is not None:
        return amount / period.per_day, f"over {period.per_day:g} days"
    return amount, "no time given, counted as one day"


def _over_day(ingredient: str, group: list[_Intake], limit: float) -> list[Finding]:
    parts = [(i, *_per_day(i, ingredient)) for i in group]
    total = sum(amount for _, amount, _ in parts)
    if total <= limit:
        return []
    told = "; ".join(f"{_describe([i], ingredient)} {how}" for i, _, how in parts)
    evidence = f"{ingredient} about {_mg(total)} a day ({told}); the most in 24 hours is {_mg(limit)}"
    return [Finding("day", (ingredient,), evidence, _spans(group), total, limit)]


def _stock(eng: Engine, text: str, stocks: list[tuple[_Stock, _Tok]], meds: list[_Tok]) -> list[Finding]:
    findings: list[Finding] = []
    for stock, tok in stocks:
        if stock.not_after and stock.not_after.search(text, max(0, tok.start - 60), tok.start):
            continue
        named = [m.group() for m in eng.names.finditer(tok.text)] + [
            m.text for m in meds if _same_sentence(text, tok, m)
        ]
        products = [p for p in (_product(eng, n) for n in named) if p is not None]
        if stock.form.needs_medicine and not (products or meds):
            continue
        if stock.form.more_than and not _first_larger(tok.text):
            continue
        if stock.form.exceeds and not _last_larger(tok.text):
            continue
        ingredients = tuple(dict.fromkeys(i for p in products for i, _ in p.contains))
        said = " ".join(text[tok.start : tok.end].split())  # as written
        which = f" ({', '.join(dict.fromkeys(' '.join(n.lower().split()) for n in named))})" if named else ""
        findings.append(Finding("stock", ingredients, f"'{said}': {stock.form.means}{which}", ((tok.start, tok.end),)))
    return findings


def _first_larger(said: str) -> bool:
    """'4 of my pregabalin instead of 2': at least double what was meant. '3 ibuprofen instead of 2' is
    left to the arithmetic (600 mg is a dose an adult may take), and '1 instead of 2' is less."""
    values = _numbers(re.sub(r"\d+(?:\.\d+)?\s?(?:mg|mcg|g)\b", " ", said))
    return len(values) >= 2 and values[1] > 0 and values[0] >= 2 * values[1]


def _last_larger(said: str) -> bool:
    """'the box says 8 a day ... I've had 12': the count taken is over the one allowed."""
    values = _numbers(re.sub(r"\d+(?:\.\d+)?\s?(?:mg|mcg|g)\b", " ", said))
    return len(values) >= 2 and values[-1] > values[0] > 0


def _duplicates(eng: Engine, text: str, intakes: list[_Intake]) -> list[Finding]:
    """One ingredient taken in two products ("co-codamol and a Lemsip on top", "naproxen and Nurofen together"):
    each at its own full dose is already too much, and people rarely know the second one holds the first.
    Only products told as taken and swallowed count; not when the words between say one replaced the other,
    nor in a question of permission. When both were counted, only when told in one sentence with no time
    between, and the shared ingredient summed over the two is over its most in one dose ("two co-codamol and a
    Lemsip": 1,500 mg of paracetamol; "a paracetamol and a co-codamol": 1,000 mg, within it), or they are two
    of a group ("2 ibuprofen and 2 naproxen")."""
    taken = [i for i in intakes if i.told_taken and not eng.on_the_skin.match(text, i.end)]
    findings: list[Finding] = []
    seen: set[str] = set()
    for a_idx, a in enumerate(taken):
        for b in taken[a_idx + 1 :]:
            if a.product.id == b.product.id:
                continue
            lo, hi = sorted((a, b), key=lambda i: i.spans[0][0])
            if eng.not_both.search(text, lo.end, hi.spans[0][0]) or _asked(eng, text, lo.spans[0][0]):
                continue
            shared = _shared(eng, a.product, b.product)
            if shared is None or shared in seen:
                continue
            amount = limit = None
            if a.count is not None and b.count is not None:
                summed = _one_dose(eng, a, b, shared, apart=bool(eng.apart.search(text, lo.end, hi.spans[0][0])))
                if summed is None:
                    continue
                amount, limit = summed
            seen.add(shared)
            evidence = f"{shared} in two products taken together ({a.name}, {b.name})"
            if amount is not None and limit is not None:
                evidence += f": {amount:,.0f} mg in one go, over the {limit:,.0f} mg most in one dose"
            ingredients = tuple(
                dict.fromkeys(
                    i
                    for p in (a.product, b.product)
                    for i, _ in p.contains
                    if i == shared or eng.limits[i].group == shared
                )
            )
            findings.append(Finding("both", ingredients, evidence, _merge([*a.spans, *b.spans]), amount, limit))
    return findings


def _one_dose(
    eng: Engine, a: _Intake, b: _Intake, shared: str, *, apart: bool
) -> tuple[float | None, float | None] | None:
    """Two counted products told in one sentence, nothing between them saying they were taken at different times
    (`apart`), nor how often: their shared ingredient summed as one dose and its most in one dose, when over it;
    two of a group (two different NSAIDs) with no amounts to add. None: within the dose, or not one dose."""
    spread = {"rate", "day", "period"}
    if apart or a.sentence != b.sentence or spread & (set(a.slots) | set(b.slots)):
        return None
    limits = eng.limits.get(shared)
    if limits is None:
        return None, None  # a group: the two together is the risk, whatever the counts
    total = sum((i.count or 0) * i.mg.get(shared, 0.0) for i in (a, b))
    return (total, limits.max_single_mg) if limits.max_single_mg and total > limits.max_single_mg else None


def _asked(eng: Engine, text: str, at: int) -> bool:
    """A question of permission earlier in the sentence: "can I take X and Y together?" takes neither yet."""
    start = max(text.rfind(c, 0, at) for c in ".!?;\n") + 1
    return eng.asking.search(text, start, at) is not None


def _shared(eng: Engine, a: _Product, b: _Product) -> str | None:
    """The ingredient, or the group of ingredients, that two products both hold."""
    mine = dict(a.contains)
    if common := [i for i, _ in b.contains if i in mine]:
        return common[0]
    groups = {eng.limits[i].group for i in mine} - {None}
    for i, _ in b.contains:
        if (group := eng.limits[i].group) in groups:
            return group
    return None


def _same_sentence(text: str, a: _Tok, b: _Tok) -> bool:
    lo, hi = sorted((a.start, b.start))
    return not any(c in text[lo:hi] for c in ".!?;\n")


def _lower(text: str) -> str:
    """The text lower-cased a character at a time, so that spans still index it as given: a character
    whose lower case is longer (a capital I with a dot) stays as it is. `str.lower` of the whole text is the same,
    without a Python loop over every character, when its length shows no such character and there is
    no capital sigma (the one character whose lower case depends on its neighbours)."""
    low = text.lower()
    if len(low) == len(text) and "\u03a3" not in text:
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def overdose(text: str, path: Path | None = None) -> Overdose | None:
    """An overdose told in `text`, or None when there is none or the arithmetic is not clear.

    >>> result = overdose("I've been taking ibuprofen 400 every 2 hours for 3 days")
    >>> result.findings[0].kind, result.findings[0].amount_mg, result.ingredients
    ('day', 3200.0, ('ibuprofen',))
    >>> overdose("Swallowed all my amitriptyline tonight").evidence
    "'Swallowed all my amitriptyline': the whole supply of a medicine taken (amitriptyline)"
    """
    eng = engine(path)
    low = _lower(text)
    if not eng.gate.search(low):
        return None
    intakes, stocks, meds = _read(eng, low)
    for stock in eng.stock:  # the forms read apart, where their words occur
        if stock.needs is not None and stock.alone is not None and stock.needs.search(low):
            stocks += [(stock, _Tok("stock", m.start(), m.end(), m.group())) for m in stock.alone.finditer(low)]
    findings = _stock(eng, text, stocks, meds) + _numeric(eng, intakes)
    if not findings:
        findings = _duplicates(eng, low, intakes)
    return Overdose(tuple(findings)) if findings else None
