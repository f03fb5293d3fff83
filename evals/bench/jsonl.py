"""`ask --jsonl` on the benchmark messages: wall time with the model load, and the serving memory."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.bench.common import cli_command, run_child


def jsonl_run(
    data_dir: Path, rows: Sequence[dict[str, Any]], work: Path, models_dir: Path, repeats: int = 3
) -> dict[str, Any]:
    """`ask --jsonl` on the messages, wall time including the model load (median of `repeats`).

    Its peak RSS is the serving memory: the same loaded pipeline the web app holds, minus gradio.
    """
    env = {**os.environ, "PHYSIO_DATA_DIR": str(data_dir), "PHYSIO_MODEL_CACHE_DIR": str(models_dir)}
    env.pop("PHYSIO_EMBEDDING_BACKEND", None)
    feed = work / "bench-input.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runs = []
    for _ in range(repeats):
        seconds, code, rss, out = run_child([*cli_command(), "ask", "--jsonl"], env, stdin=feed)
        lines = [json.loads(x) for x in out.decode("utf-8").splitlines() if x.strip()]
        runs.append(
            {
                "seconds": seconds,
                "exit_code": code,
                "outputs": len(lines),
                "errors": sum("error" in x for x in lines),
                "replies_seconds": sum(float(x.get("latency_ms", 0)) for x in lines) / 1000,
                "rss": rss,
            }
        )
    runs.sort(key=lambda r: r["seconds"])
    mid = runs[len(runs) // 2]
    return {
        "messages": len(rows),
        "jsonl_seconds": round(mid["seconds"], 2),
        "jsonl_seconds_min_max": [round(runs[0]["seconds"], 2), round(runs[-1]["seconds"], 2)],
        "replies_seconds": round(mid["replies_seconds"], 2),
        "exit_code": max(r["exit_code"] for r in runs),
        "outputs": min(r["outputs"] for r in runs),
        "errors": max(r["errors"] for r in runs),
        "serving_peak_rss_mb": round(max(r["rss"] for r in runs) / 1024, 1),
        "runs": repeats,
    }
