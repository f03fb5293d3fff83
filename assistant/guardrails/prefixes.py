"""What a rule's match can begin with: a cheap test that rules a concept out of a sentence before its
regular expression runs.

Most concepts are absent from most sentences, and a failed search still tries the whole alternation at
every position. A match of a compiled concept starts at a word start (the rules add `(?<![a-z0-9])`)
with one of a few short strings, read off the pattern once; a sentence none of whose word starts begins
with one of them cannot match, so the answer is the same without the search.

>>> starts = match_starts(re.compile(r"(?<![a-z0-9])(?:numb(?:ness)?|pins and needles)(?![a-z0-9])"))
>>> sorted(starts or [])
['num', 'pin']
>>> starts.isdisjoint(word_starts("my back hurts"))
True
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the typed names of the stdlib's regex parser (re._parser at run time, since 3.11)
    import sre_constants as _c
    import sre_parse as _parser
else:
    from re import _constants as _c
    from re import _parser

WORD_START = "(?<![a-z0-9])"
SPAN = 3  # characters read at each word start: enough to tell most concepts apart, few enough to list
_MAX_STRINGS = 4096  # a pattern with more possible beginnings is searched as it is
_NON_WORD = re.compile(r"[^a-z0-9]")

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
    if not rx.pattern.startswith(WORD_START) or rx.flags & re.IGNORECASE:
        return None
    try:
        parsed = _parser.parse(rx.pattern, rx.flags)
    except re.error:
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    starts = _sequence(parsed.data, SPAN)
    if starts is None or any(not text for text, _cut in starts):
        return None
    return frozenset(text for text, _cut in starts)


def word_starts(sent: str) -> frozenset[str]:
    """The first 1 to SPAN characters at every word start of a sentence (where `WORD_START` holds)."""
    positions = [0, *(m.end() for m in _NON_WORD.finditer(sent))]
    return frozenset(sent[p : p + n] for p in positions for n in range(1, SPAN + 1))


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
