"""What a rule's match can begin with: a cheap test that rules a concept out of a sentence before its
regular expression runs.

Most concepts are absent from most sentences, and a failed search still tries the whole alternation at
every position. A match of a compiled concept starts at a word start (the rules add `(?<![a-z0-9])`)
with one of a few short strings, read off the pattern once; a sentence none of whose word starts begins
with one of them cannot match, so the answer is the same without the search.

>>> starts = match_starts(re.compile(r"(?<![a-z0-9])(?:numb(?:ness)?|pins and needles)(?![a-z0-9])"))
>>> sorted(starts or [])
['numb', 'numbn', 'pins ']
>>> starts.isdisjoint(word_starts("my back hurts"))
True
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the typed names of the stdlib's regex parser (re._parser at run time, since 3.11)
    import sre_constants as _c
    import sre_parse as _parser
else:
    from re import _constants as _c
    from re import _parser

WORD_START = "(?<![a-z0-9])"
# characters read at each word start: enough to tell most concepts apart (at 3, "the" or "had" begin
# too many of them), few enough to list
SPAN = 5
_MAX_STRINGS = 4096  # a pattern with more possible beginnings is searched as it is
_NON_WORD = re.compile(r"[^a-z0-9]")
_LENGTHS = range(1, SPAN + 1)
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")

# A beginning: its characters, and whether it was cut short by a wildcard or class (what follows is
# unknown). Uncut and shorter than SPAN, it is a whole match so far, and what comes next is appended.
Start = tuple[str, bool]
Starts = set[Start] | None  # None: cannot be told
_ANY: set[Start] = {("", True)}  # one character of a wildcard or a wide class


def match_starts(rx: re.Pattern[str]) -> frozenset[str] | None:
    """Every string a match of `rx` can begin with, cut to SPAN characters (or where a wildcard or a
    character class comes first).

    None when that cannot be told: a pattern not anchored at a word start, case folding, a group
    reference, a possible empty match or wildcard first, or too many beginnings."""
    parsed = _parsed(rx)
    if parsed is None:
        return None
    starts = _sequence(parsed.data, SPAN)
    if starts is None or any(not text for text, _cut in starts):
        return None
    return frozenset(text for text, _cut in starts)


def shortest(starts: frozenset[str] | None) -> frozenset[str] | None:
    """`starts` less those that begin with another of them: a word that begins with "numbn" begins with
    "numb", so `Beginnings` finds the same places with fewer lookups, and mostly with one.

    >>> sorted(shortest(frozenset({"numb", "numbn", "pins "})) or [])
    ['numb', 'pins ']
    """
    if starts is None:
        return None
    return frozenset(s for s in starts if not any(s[:n] in starts for n in range(1, len(s))))


def _parsed(rx: re.Pattern[str]) -> Any:
    """`rx` as the stdlib's parser reads it, when it is anchored at a word start and case-sensitive;
    else None (what it can match cannot be told from its text)."""
    if not rx.pattern.startswith(WORD_START) or rx.flags & re.IGNORECASE:
        return None
    try:
        parsed = _parser.parse(rx.pattern, rx.flags)
    except re.error:
        return None
    return None if parsed.state.flags & re.IGNORECASE else parsed


def match_needs(rx: re.Pattern[str], seen: Mapping[str, int]) -> frozenset[str] | None:
    """Beginnings of which every match of `rx` has one at some word start, not only at its own start.

    "(he|she|my \\w+) is (\\w+ )?suicidal" begins with common words, but a word beginning "sui"
    is in every match: of the places in a match where a word must start, the one whose beginnings
    are rarest in `seen` (beginning -> how many sample sentences have it) is kept, alternative by
    alternative. A sentence with none of them cannot match. None when no such place can be told."""
    parsed = _parsed(rx)
    if parsed is None:
        return None
    best = _Needs(seen).best(list(parsed.data), True)
    return None if best is None else frozenset(best)


class _Needs:
    """The search behind `match_needs`, with a budget: nested alternatives multiply the ways to read a pattern."""

    BUDGET = 20_000

    def __init__(self, seen: Mapping[str, int]) -> None:
        self.seen = seen
        self.left = self.BUDGET

    def cost(self, needs: set[str]) -> int:
        return sum(self.seen.get(text, 0) + 1 for text in needs)

    def best(self, items: list[Any], boundary: bool) -> set[str] | None:
        """The cheapest beginnings one of which every match of `items` has at a word start;
        `boundary`: the sequence itself begins at a word start."""
        self.left -= 1
        if self.left < 0:
            return None
        options: list[set[str]] = []
        for i, (op, av) in enumerate(items):
            if boundary and (starts := _sequence(items[i:], SPAN)) and all(text for text, _cut in starts):
                options.append({text for text, _cut in starts})
            rest = items[i + 1 :]
            if op is _c.SUBPATTERN and not av[1] & re.IGNORECASE:
                inner = self.best([*av[3], *rest], boundary)
                options += [inner] if inner else []
                break
            if op is _c.BRANCH:
                each = [self.best([*alt, *rest], boundary) for alt in av[1]]
                if all(each):
                    options.append(set().union(*each))  # type: ignore[arg-type]
                break
            boundary = _ends_word(op, av, boundary)
        return min(options, key=self.cost) if options else None


def _ends_word(op: object, av: Any, boundary: bool) -> bool:
    """Whether a word start follows a parsed item (`boundary`: one came before it): its every match
    ends with a character that is not a letter or digit (or it is zero width after one)."""
    if op is _c.LITERAL:
        return _NON_WORD.match(chr(av)) is not None
    if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
        return boundary
    if op is _c.CATEGORY:
        return av in (_c.CATEGORY_SPACE, _c.CATEGORY_NOT_WORD)
    if op is _c.IN:
        return all(
            (kind is _c.LITERAL and _NON_WORD.match(chr(value)) is not None)
            or (kind is _c.CATEGORY and value in (_c.CATEGORY_SPACE, _c.CATEGORY_NOT_WORD))
            for kind, value in av
        )
    if op is _c.SUBPATTERN:
        return not av[1] & re.IGNORECASE and _sequence_ends_word(list(av[3]), boundary)
    if op is _c.ATOMIC_GROUP:
        return _sequence_ends_word(list(av), boundary)
    if op is _c.BRANCH:
        return all(_sequence_ends_word(list(alt), boundary) for alt in av[1])
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, _high, sub = av
        ends = _sequence_ends_word(list(sub), False)  # whatever came before the last repeat
        return ends and (boundary or low >= 1)
    return False


def _sequence_ends_word(items: list[Any], boundary: bool) -> bool:
    for op, av in items:
        boundary = _ends_word(op, av, boundary)
    return boundary


def word_starts(sent: str) -> frozenset[str]:
    """The first 1 to SPAN characters at every word start of a sentence (where `WORD_START` holds)."""
    return frozenset({sent[p : p + n] for p in _word_positions(sent) for n in _LENGTHS})


class Beginnings:
    """A sentence's word starts (`word_starts`), and searches that try only those where a match can
    begin, so a rule need not be tried at every character."""

    __slots__ = ("sent", "words", "_at")

    def __init__(self, sent: str) -> None:
        self.sent = sent
        self.words = word_starts(sent)
        self._at: dict[str, list[int]] = {}

    def search(
        self, rx: re.Pattern[str], starts: frozenset[str] | None, pos: int = 0, endpos: int | None = None
    ) -> re.Match[str] | None:
        """The match `rx.search(sent, pos, endpos)` finds, tried only where a word begins as one must
        (`starts`, from `match_starts(rx)`; None tries everywhere): a match never starts elsewhere."""
        end = len(self.sent) if endpos is None else endpos
        if starts is None:
            return rx.search(self.sent, pos, end)
        for place in self._places(starts):
            if place >= end:
                break
            if place >= pos and (m := rx.match(self.sent, place, end)) is not None:
                return m
        return None

    def finditer(self, rx: re.Pattern[str], starts: frozenset[str] | None, pos: int = 0) -> Iterator[re.Match[str]]:
        """The matches `rx.finditer(sent, pos)` finds, tried as `search` does: a match is never empty, so
        trying each place in order after the last match's end finds the same ones."""
        if starts is None:
            yield from rx.finditer(self.sent, pos)
            return
        end = pos
        for place in self._places(starts):
            if place >= end and (m := rx.match(self.sent, place)) is not None:
                end = m.end()
                yield m

    def _places(self, starts: frozenset[str]) -> list[int]:
        """Where a word of the sentence begins with one of `starts`, in order."""
        keys = starts & self.words
        if len(keys) <= 1:
            return self._where(next(iter(keys))) if keys else []
        return sorted({p for key in keys for p in self._where(key)})

    def _where(self, key: str) -> list[int]:
        """Where a word of the sentence begins with `key` (read once per sentence)."""
        found = self._at.get(key)
        if found is None:
            sent = self.sent
            found = []
            pos = sent.find(key)
            while pos >= 0:
                if pos == 0 or sent[pos - 1] not in _WORD_CHARS:
                    found.append(pos)
                pos = sent.find(key, pos + 1)
            self._at[key] = found
        return found


def _word_positions(sent: str) -> list[int]:
    return [0, *(m.end() for m in _NON_WORD.finditer(sent))]


def _decided(start: Start, span: int) -> bool:
    return start[1] or len(start[0]) >= span


def _sequence(items: Any, span: int) -> Starts:
    """The beginnings of a sequence of regex items: each item's beginnings appended to the ones before."""
    got: set[Start] = {("", False)}
    for op, av in items:
        if all(_decided(s, span) for s in got):
            break
        item = _item(op, av, span)
        if item is None:
            return None
        got = _concat(got, item, span)
        if len(got) > _MAX_STRINGS:
            return None
    return got


def _concat(left: set[Start], right: set[Start], span: int) -> set[Start]:
    return {_join(s, t, span) for s in left for t in right}


def _join(left: Start, right: Start, span: int) -> Start:
    if _decided(left, span):
        return left
    text = left[0] + right[0]
    return (text[:span], False) if len(text) >= span else (text, right[1])


def _item(op: object, av: Any, span: int) -> Starts:
    """The beginnings of one parsed item (a regex parser node, untyped); None for anything not listed here."""
    if op is _c.LITERAL:
        return {(chr(av), False)}
    if op is _c.IN:
        return _charset(av)
    if op in (_c.ANY, _c.NOT_LITERAL, _c.CATEGORY):
        return _ANY
    if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
        return {("", False)}  # zero width: ignoring it only allows more, never fewer, beginnings
    if op is _c.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av
        return None if add_flags & re.IGNORECASE else _sequence(list(sub), span)
    if op is _c.BRANCH:
        return _branch(av[1], span)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, high, sub = av
        one = _sequence(list(sub), span)
        return None if one is None else _repeat(one, low, high, span)
    if op is _c.ATOMIC_GROUP:
        return _sequence(list(av), span)
    return None


def _charset(members: Any) -> Starts:
    chars: set[Start] = set()
    for op, av in members:
        if op is _c.LITERAL:
            chars.add((chr(av), False))
        elif op is _c.RANGE:
            low, high = av
            chars.update((chr(c), False) for c in range(low, high + 1))
        else:
            return _ANY  # a negated set or a category (\w, \d, \s): any of many characters
        if len(chars) > 64:
            return _ANY
    return chars


def _branch(alternatives: Any, span: int) -> Starts:
    got: set[Start] = set()
    for alternative in alternatives:
        one = _sequence(list(alternative), span)
        if one is None:
            return None
        got |= one
        if len(got) > _MAX_STRINGS:
            return None
    return got


def _repeat(one: set[Start], low: int, high: int, span: int) -> Starts:
    """The beginnings of `one` repeated low to high times, stopping once more repeats change nothing."""
    got: set[Start] = set()
    current: set[Start] = {("", False)}
    count = 0
    while True:
        if count >= low:
            got |= current
        if count == high:
            return got
        following = _concat(current, one, span)
        if following == current:  # every beginning decided, or the item adds nothing new: a fixed point
            return got | current
        if len(following) > _MAX_STRINGS:
            return None
        current, count = following, count + 1
