"""Every control in the hazard log and the threat model names a test that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "safety" / "hazard-log.md", ROOT / "docs" / "security.md"]
ALL_TESTS = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))


def _named_tests(doc: Path) -> list[str]:
    return sorted(set(re.findall(r"`(?:[\w/]+\.py::)?(test_\w+)", doc.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_named_test_exists(doc: Path) -> None:
    names = _named_tests(doc)
    assert names, f"{doc} names no tests"
    missing = [n for n in names if not re.search(rf"def {n}\b", ALL_TESTS)]
    assert not missing, f"{doc.name} names tests that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_named_test_file_exists(doc: Path) -> None:
    for path in re.findall(r"`(tests/[\w/]+\.py)", doc.read_text(encoding="utf-8")):
        assert (ROOT / path).is_file(), path


def test_the_hazard_log_covers_the_required_hazards() -> None:
    text = DOCS[0].read_text(encoding="utf-8").lower()
    for hazard in [
        "missed red flag",
        "false reassurance",
        "wrong exercise advice",
        "outdated",
        "privacy breach",
        "unavailability",
    ]:
        assert hazard in text
