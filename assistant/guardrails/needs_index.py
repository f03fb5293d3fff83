"""A stored copy of what each rule pattern needs of a sentence (`prefixes.match_needs`), so that loading
the triage engine does not redo the search every time a process starts.

`match_needs` reads each of some 200 patterns for the word beginnings every match must have; that search
took 8.7 of the engine's 9 seconds to load, paid again by every command, server and worker. Its answer
depends only on the pattern, on which beginnings are common in the rules' examples (`seen`) and on the
search's own code, so each answer is stored under a hash of all three: a changed rule, example or search
misses its entry and is searched again, never read stale. The answers are a guide to speed only (a
sentence ruled out by them could not match), so a missing or damaged file costs time, not safety.

`physio-assistant train-triage` writes `knowledge/safety/triage_index.json`; a test fails when the
shipped file no longer holds every pattern of the shipped rules.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from assistant.guardrails import prefixes
from assistant.guardrails.prefixes import match_needs

FORMAT = 1


@cache
def search_version() -> str:
    """A hash of the search's own code: a changed search misses every stored answer."""
    return hashlib.sha256(Path(prefixes.__file__).read_bytes()).hexdigest()[:16]


def seen_digest(seen: Mapping[str, int]) -> str:
    """A hash of the beginnings' counts, the one input `match_needs` reads besides the pattern."""
    text = "\n".join(f"{k}\t{v}" for k, v in sorted(seen.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class NeedsIndex:
    """`match_needs` answers looked up by their inputs' hash, with what this process asked for kept for `save`."""

    def __init__(self, known: Mapping[str, list[str] | None] | None = None) -> None:
        self.known = dict(known or {})
        self.used: dict[str, list[str] | None] = {}
        self.searched = 0  # answers not found stored: searched in this process

    @classmethod
    def load(cls, path: Path | None) -> NeedsIndex:
        """The stored answers; none (every pattern searched) when the file is missing, unreadable or of
        another format."""
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            needs = data["needs"] if data.get("format") == FORMAT else {}
            return cls({str(k): (None if v is None else [str(s) for s in v]) for k, v in needs.items()})
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls()

    def needs(self, rx: re.Pattern[str], seen: Mapping[str, int], digest: str) -> frozenset[str] | None:
        """`match_needs(rx, seen)`, read from the index when stored (`digest`: `seen_digest(seen)`)."""
        key = hashlib.sha256(f"{search_version()}\0{digest}\0{rx.flags}\0{rx.pattern}".encode()).hexdigest()[:32]
        if key in self.known:
            stored = self.known[key]
        else:
            found = match_needs(rx, seen)
            stored = None if found is None else sorted(found)
            self.searched += 1
        self.used[key] = stored
        return None if stored is None else frozenset(stored)

    def complete(self) -> bool:
        """Whether every answer this process asked for was stored (a shipped index is up to date)."""
        return self.searched == 0

    def save(self, path: Path) -> None:
        """The answers this process used (and no others), written like the net's weights beside it: a file cut
        short is read as no index (`load`), which costs the search, not a wrong answer."""
        text = json.dumps({"format": FORMAT, "needs": dict(sorted(self.used.items()))}, indent=0, sort_keys=True)
        path.write_text(text + "\n", encoding="utf-8")


def index_path(knowledge: Path) -> Path:
    return knowledge / "safety" / "triage_index.json"
