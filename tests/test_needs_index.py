"""The stored `match_needs` answers: read when their inputs are unchanged, searched again when not, and
never a reason to fail (a missing or damaged file only costs the search)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from assistant.guardrails.needs_index import NeedsIndex, index_path, seen_digest
from assistant.guardrails.prefixes import match_needs
from assistant.guardrails.triage import load_engine

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
SEEN = Counter({"my": 9, "leg": 3, "sui": 1, "numb": 2})
PATTERN = re.compile(r"(?<![a-z0-9])(?:he|she|my \w+) is (?:\w+ )?suicidal")


def test_the_shipped_index_holds_every_pattern_of_the_shipped_rules() -> None:
    """Else every command and server start searches again (about 9 s): run `physio-assistant train-triage`."""
    engine = load_engine(KNOWLEDGE)
    assert engine.needs_index.complete(), (
        f"{engine.needs_index.searched} rule patterns are not in {index_path(KNOWLEDGE)}: "
        "run `physio-assistant train-triage` and commit"
    )


def test_a_stored_answer_is_read_and_a_changed_pattern_or_example_count_is_searched_again(tmp_path: Path) -> None:
    first = NeedsIndex()
    found = first.needs(PATTERN, SEEN, seen_digest(SEEN))
    assert found == match_needs(PATTERN, SEEN) and first.searched == 1
    first.save(tmp_path / "index.json")

    again = NeedsIndex.load(tmp_path / "index.json")
    assert again.needs(PATTERN, SEEN, seen_digest(SEEN)) == found and again.complete()

    changed = re.compile(PATTERN.pattern.replace("suicidal", "suicidal now"))
    assert again.needs(changed, SEEN, seen_digest(SEEN)) == match_needs(changed, SEEN)
    other = Counter({**SEEN, "sui": 40})
    again.needs(PATTERN, other, seen_digest(other))
    assert again.searched == 2 and not again.complete()


def test_save_keeps_only_what_was_used(tmp_path: Path) -> None:
    index = NeedsIndex({"stale": ["abc"]})
    index.needs(PATTERN, SEEN, seen_digest(SEEN))
    index.save(tmp_path / "index.json")
    stored = json.loads((tmp_path / "index.json").read_text(encoding="utf-8"))
    assert "stale" not in stored["needs"] and len(stored["needs"]) == 1


@pytest.mark.parametrize("content", [None, "", "{not json", '{"format": 99, "needs": {}}', '["a list"]', "\x00\xff"])
def test_a_missing_or_damaged_index_is_searched_not_trusted(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "index.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    index = NeedsIndex.load(path)
    assert index.needs(PATTERN, SEEN, seen_digest(SEEN)) == match_needs(PATTERN, SEEN)
    assert index.searched == 1
