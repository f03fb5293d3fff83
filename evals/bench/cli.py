"""`physio-assistant bench`: run the benchmarks in order, write bench.json, bench.md and bench.png."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.bench.cold_start import cold_start
from evals.bench.common import bench_messages
from evals.bench.ingest_speed import ingest_figures
from evals.bench.jsonl import jsonl_run
from evals.bench.report import markdown, plot, verdicts
from evals.bench.soak import soak
from evals.bench.turn import turn_latency
from evals.bench.web import web_load, web_pair


def main(
    settings: Any,
    out_dir: Path,
    url: str | None = None,
    server_pid: int | None = None,
    n: int = 200,
    soak_minutes: float = 0.0,
    *,
    web: bool = False,
    int8: bool = False,
) -> dict[str, Any]:
    """Run every benchmark, write bench.json, bench.png and bench.md into `out_dir`; print the table."""
    from assistant.conversation import Assistant
    from assistant.embeddings import load_embedder, resolve_model_path
    from evals.runner import machine
    from ingest.pipeline import ingest

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = url or os.environ.get("PHYSIO_BENCH_URL") or None
    started = time.perf_counter()
    rows = bench_messages(n)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "model": settings.embedding_model,
    }
    results["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    timings: dict[str, float] = {}

    def step(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        results[name] = fn()
        timings[name] = round(time.perf_counter() - start, 1)

    assistant = Assistant.load(settings, build=ingest, say=lambda m: print(m, file=sys.stderr))
    reference = load_embedder(settings.model_copy(update={"embedding_backend": "sentence-transformers"}))
    models_dir = settings.models_path
    results["served_backend"] = assistant.embedder.backend
    step("turn", lambda: turn_latency(assistant, rows, reference))
    from evals.bench.triage_long import long_input

    step("triage_long", lambda: long_input(assistant))
    work = Path(tempfile.mkdtemp(prefix="physio-bench-"))
    try:
        step("ingest", lambda: ingest_figures(settings, assistant.embedder, work / "data", reference))
        step(
            "cold_start",
            lambda: cold_start(work / "data", str(resolve_model_path(settings.embedding_model)), models_dir),
        )
        step("jsonl", lambda: jsonl_run(work / "data", rows, work, models_dir))
        if web:
            step("web_pair", lambda: web_pair(work / "data", models_dir, work))
        if int8:
            from evals.bench.int8 import compare

            step("int8", lambda: compare(settings, work / "int8"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["memory"] = {
        "serving_peak_rss_mb": results["jsonl"]["serving_peak_rss_mb"],
        "bare_model_peak_rss_mb": results["cold_start"]["bare_model_peak_rss_mb"],
        "serving_vs_bare_model": round(
            results["jsonl"]["serving_peak_rss_mb"] / results["cold_start"]["bare_model_peak_rss_mb"], 2
        ),
    }
    if url:
        step("web", lambda: web_load(url, server_pid=server_pid))
        if soak_minutes > 0:
            step("soak", lambda: soak(url, soak_minutes, server_pid=server_pid))
    timings["total"] = round(time.perf_counter() - started, 1)
    results["timings"] = timings
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = verdicts(results)
    (out_dir / "bench.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    plot(results, out_dir / "bench.png")
    table = markdown(results)
    (out_dir / "bench.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return results


def _main() -> int:
    from assistant.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--url", help="run the web load test against this loopback URL (the app must be serving)")
    parser.add_argument(
        "--server-pid", type=int, help="the server's pid, to sample its peak memory during the load test"
    )
    parser.add_argument("-n", type=int, default=200, help="messages for the latency and --jsonl figures")
    parser.add_argument(
        "--soak-minutes", type=float, default=0.0, help="after the load test, a steady soak of this many minutes"
    )
    parser.add_argument(
        "--web", action="store_true", help="start a server per embedding path on loopback and load-test both"
    )
    parser.add_argument(
        "--int8", action="store_true", help="also try int8 dynamic quantisation against fp32 in one eval run"
    )
    args = parser.parse_args()
    main(
        Settings(),
        args.out,
        url=args.url,
        server_pid=args.server_pid,
        n=args.n,
        soak_minutes=args.soak_minutes,
        web=args.web,
        int8=args.int8,
    )
    return 0
