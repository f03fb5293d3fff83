"""The examples in docstrings are run, so they stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "assistant.canonical",
    "assistant.cli",
    "assistant.guardrails.doses",
    "assistant.guardrails.prefixes",
    "assistant.guardrails.redact",
    "assistant.needles",
    "assistant.private_files",
    "assistant.spelling",
    "assistant.records.outbox",
    "assistant.records.store",
    "assistant.sentences",
    "assistant.streaming",
    "assistant.web.auth",
    "assistant.web.render",
    "evals.content_lint",
    "evals.gates",
    "evals.metrics",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples left: drop it from the list"
    assert result.failed == 0
