"""Per-turn latency: a full reply against a bare sentence-transformers query encode, interleaved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evals.bench.common import ms, stats


def turn_latency(assistant: Any, rows: Sequence[dict[str, Any]], reference: Any) -> dict[str, Any]:
    """Each message: a bare sentence-transformers `encode_one`, the served (ONNX) `encode_one` and a
    full `reply`, interleaved (the order rotates every message)."""
    from assistant.conversation import parse_history

    for r in rows[:10]:  # warm up every path
        reference.encode_one(r["message"])
        assistant.embedder.encode_one(r["message"])
        assistant.reply(r["message"], r["history"])
    bare, served, reply, triage = [], [], [], []
    for i, r in enumerate(rows):
        calls = [
            (bare, lambda r=r: reference.encode_one(r["message"])),
            (served, lambda r=r: assistant.embedder.encode_one(r["message"])),
            (reply, lambda r=r: assistant.reply(r["message"], r["history"])),
        ]
        for sink, fn in calls[i % 3 :] + calls[: i % 3]:
            sink.append(ms(fn))
        turns = parse_history(r["history"])
        assistant.engine.forget()  # reply() just triaged this message: time it as a new one, not a cache hit
        triage.append(ms(lambda r=r, turns=turns: assistant.engine.triage(r["message"], turns)))
    e, o, t, g = stats(bare), stats(served), stats(reply), stats(triage)
    return {
        "n": len(rows),
        "encode_ms": e,
        "served_encode_ms": o,
        "reply_ms": t,
        "triage_ms": g,
        "backend": assistant.embedder.backend,
        "turn_p50_ratio": round(t["p50"] / e["p50"], 3),
        "turn_p95_ratio": round(t["p95"] / e["p95"], 3),
        "served_encode_p50_ratio": round(o["p50"] / e["p50"], 3),
        "turn_p50_vs_served_encode": round(t["p50"] / o["p50"], 2),
        "triage_p95_ms": g["p95"],
        "triage_p95_vs_encode_p95": round(g["p95"] / e["p95"], 3),
        "samples": {
            "encode": [round(x, 2) for x in bare],
            "served_encode": [round(x, 2) for x in served],
            "reply": [round(x, 2) for x in reply],
        },
    }
