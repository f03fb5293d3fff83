"""Strings a regular expression's every match contains: a substring test that rules a pattern out of a
text before its search or substitution scans it.

A substitution that finds nothing still tries its pattern at every position of the text; `str.__contains__`
skips through it far faster. When none of a pattern's needles is in the text, the pattern cannot match
there, so the search finds nothing and the substitution leaves the text as it is: the same answer,
without the scan.

>>> sorted(needles(re.compile(r"\\b(?:can ?'?t|cannot)\\b")) or [])
['can']
>>> sorted(needles(re.compile(r"\\b(do|does)n'?t\\b")) or [])
['do']
>>> may_match(needles(re.compile(r"\\bwon'?t\\b")), "i will not")
False
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the typed names of the stdlib's regex parser (re._parser at run time, since 3.11)
    import sre_constants as _c
    import sre_parse as _parser
else:
    from re import _constants as _c
    from re import _parser

_MAX_CLASS = 16  # a character class of more characters than this gives no needles (too many to test)


def needles(rx: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings one of which is in every text `rx` matches anywhere in; None when that cannot be told
    (case folding, or no part every match must contain). Only what a match must contain is read: a
    literal run, a group, an alternative each of whose branches has needles, a repeat done at least
    once, a positive lookaround (its text is in the string too), a small set of characters."""
    if rx.flags & re.IGNORECASE:
        return None
    try:
        parsed = _parser.parse(rx.pattern, rx.flags)
    except re.error:
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    found = _sequence(list(parsed.data))
    return None if found is None else tuple(sorted(found))


def may_match(found: tuple[str, ...] | None, text: str) -> bool:
    """Whether a pattern with these needles (`needles`) can match in `text`; True when not told."""
    return found is None or any(needle in text for needle in found)


class Alternatives:
    """An alternation `(?:a|b|...)`, searched without its rare alternatives in a text where they cannot match.

    An alternative whose needles are in few of the sample texts (at most `rare_share` of them) is absent
    from most texts, yet the alternation tries it at every position. So the alternation is compiled twice:
    as written (`full`), and with the rare alternatives made to fail at once (`(?!)`, their groups kept).
    A text with none of their needles is searched with the second: the same matches, groups and all, as
    those alternatives match nowhere in it."""

    def __init__(self, alternatives: Sequence[str], samples: Sequence[str], rare_share: float = 0.05) -> None:
        self.full = re.compile(_alternation(alternatives))
        found = [needles(re.compile(a)) for a in alternatives]
        rare = [n is not None and sum(may_match(n, s) for s in samples) <= rare_share * len(samples) for n in found]
        self._rare_needles = tuple(needle for n, r in zip(found, rare, strict=True) if r and n for needle in n)
        common = [f"(?!)(?:{a})" if r else a for a, r in zip(alternatives, rare, strict=True)]
        self._common = re.compile(_alternation(common)) if any(rare) else self.full

    def pattern_for(self, text: str) -> re.Pattern[str]:
        """The alternation to search `text` with: without the rare alternatives, unless one can match."""
        return self.full if may_match(self._rare_needles, text) else self._common


def _alternation(alternatives: Sequence[str]) -> str:
    return "(?:" + "|".join(alternatives) + ")"


def _sequence(items: list[Any]) -> set[str] | None:
    """The best needles of a sequence: each literal run, and each item that has needles, is one choice."""
    options: list[set[str]] = []
    run = ""
    for op, av in items:
        if op is _c.LITERAL:
            run += chr(av)
            continue
        if run:
            options.append({run})
            run = ""
        found = _item(op, av)
        if found:
            options.append(found)
    if run:
        options.append({run})
    return max(options, key=_selective) if options else None


def _selective(found: set[str]) -> tuple[int, int]:
    """How well a choice rules a text out: its shortest needle the longer, and the fewer needles, the better."""
    return min(map(len, found)), -len(found)


def _item(op: object, av: Any) -> set[str] | None:
    """The needles of one parsed item (a regex parser node, untyped); None for anything not listed here."""
    if op is _c.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av
        return None if add_flags & re.IGNORECASE else _sequence(list(sub))
    if op is _c.BRANCH:
        each = [_sequence(list(alternative)) for alternative in av[1]]
        return None if not all(each) else set().union(*each)  # type: ignore[arg-type]
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, _high, sub = av
        return _sequence(list(sub)) if low >= 1 else None
    if op is _c.ATOMIC_GROUP:
        return _sequence(list(av))
    if op is _c.ASSERT:
        _direction, sub = av
        return _sequence(list(sub))
    if op is _c.IN:
        return _charset(av)
    return None


def _charset(members: Any) -> set[str] | None:
    """The characters of a class of listed characters and ranges; None for a negated or wide one."""
    chars: set[str] = set()
    for op, av in members:
        if op is _c.LITERAL:
            chars.add(chr(av))
        elif op is _c.RANGE:
            low, high = av
            if high - low >= _MAX_CLASS:
                return None
            chars.update(chr(c) for c in range(low, high + 1))
        else:
            return None  # negated, or a category (\w, \d, \s): any of many characters
        if len(chars) > _MAX_CLASS:
            return None
    return chars
