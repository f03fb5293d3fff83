"""Triage on long input: the rules (and the net beside them) at 1k, 4k and 8k characters, and with
ten long history turns. Every figure is a new message (caches dropped), the median and p95 of a few runs.

The rules are linear in the length of the text; the net reads at most a bounded number of units a turn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from assistant.canonical import _canonical, normalise_canonical
from assistant.models import Turn
from evals.manifest import DATASETS


def _messages(name: str) -> list[str]:
    lines = (DATASETS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["message"] for line in lines if line.strip()]


def _text(chars: int) -> str:
    return " ".join(_messages("triage_round9"))[:chars]


def _windows(chars: int, count: int) -> list[str]:
    """`count` different texts of `chars` characters: one text timed again and again can mislead."""
    text = " ".join(m for name in ("triage_round11", "triage_round13", "triage_round15") for m in _messages(name))
    return [text[i * chars : (i + 1) * chars] for i in range(min(count, len(text) // chars))]


def _timed(fn: Callable[[], object], reset: Callable[[], None], repeats: int) -> dict[str, float]:
    values = []
    for _ in range(repeats):
        reset()
        start = time.perf_counter()
        fn()
        values.append((time.perf_counter() - start) * 1000)
    values.sort()
    return {
        "p50": round(values[len(values) // 2], 2),
        "p95": round(values[min(len(values) - 1, int(0.95 * len(values)))], 2),
    }


def long_input(assistant: Any, repeats: int = 7) -> dict[str, Any]:
    """Milliseconds for the rules alone and for rules + net, per input size."""
    engine, triager = assistant.engine, assistant.triager
    net = getattr(triager, "net", None)

    def reset() -> None:
        engine.forget()
        _canonical.cache_clear()
        normalise_canonical.cache_clear()
        if net is not None:
            net._cache.clear()

    out: dict[str, Any] = {}
    engine.triage(_text(2000)[::-1])  # warm the compiled rules on other text
    for chars in (1000, 4000, 8000):
        text = _text(chars)
        out[f"rules_{chars}"] = _timed(lambda text=text: engine.triage(text), reset, repeats)
        out[f"rules_net_{chars}"] = _timed(lambda text=text: triager.triage(text), reset, max(3, repeats // 2))
    # a new message each time: 40 different 1,000-character texts, every cache dropped before each
    windows = _windows(1000, 40)
    texts = iter(windows)
    out["rules_1000_distinct"] = _timed(lambda: engine.triage(next(texts)), reset, len(windows))
    long = _text(12_000)
    history = [
        Turn(role="user" if i % 2 == 0 else "assistant", content=long[i * 1200 : (i + 1) * 1200]) for i in range(10)
    ]
    out["rules_history_10x1200"] = _timed(lambda: engine.triage("is walking ok?", history), reset, repeats)
    out["rules_net_history_10x1200"] = _timed(lambda: triager.triage("is walking ok?", history), reset, 3)
    return out
