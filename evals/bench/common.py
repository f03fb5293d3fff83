"""What the benchmarks share: the messages they send, timing helpers, and running the CLI in a child process."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evals.manifest import DATASETS
from evals.metrics import percentile

ST_BACKEND = {"PHYSIO_EMBEDDING_BACKEND": "sentence-transformers"}


def bench_messages(n: int = 200, seed: int = 7) -> list[dict[str, Any]]:
    """`n` messages (with their history) drawn evenly from the datasets, the same every run."""
    pool: list[dict[str, Any]] = []
    for name in ("triage.jsonl", "retrieval.jsonl", "answers.jsonl"):
        path = DATASETS / name
        if path.is_file():
            pool += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(pool)
    return [{"id": str(r["id"]), "message": r["message"], "history": r.get("history") or []} for r in pool[:n]]


def ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "mean": round(sum(values) / max(len(values), 1), 2),
    }


def free_port() -> int:
    """A free TCP port on loopback, for a server started by a benchmark or a test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    url: str,
    seconds: float,
    *,
    proc: subprocess.Popen[Any] | None = None,
    interval: float = 0.5,
    request_timeout: float = 2.0,
) -> None:
    """Wait until `url`/healthz answers 200 (the app does once its store is loaded).

    RuntimeError when `proc`, the server, exits first, or when `seconds` pass without an answer.
    """
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url.rstrip("/") + "/healthz", timeout=request_timeout).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/healthz did not answer 200 within {seconds:g} s")
        time.sleep(interval)


def stop(proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """Ask a server to stop; kill it if it has not within `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("physio-assistant")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "assistant.cli"]


def _hwm_kib(pid: int) -> int:
    """The process's own peak RSS (VmHWM, per address space, so not inherited from the forking parent)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run_child(cmd: list[str], env: dict[str, str], stdin: Path | None = None) -> tuple[float, int, int, bytes]:
    """Wall seconds, exit code, peak RSS (KiB, polled every 50 ms), stdout.

    `ru_maxrss` of a child is no good here: Linux carries the parent's high-water mark across
    fork and exec, so every child would report the bench process's own size.
    """
    with tempfile.TemporaryFile() as out, stdin.open("rb") if stdin else open(os.devnull, "rb") as inp:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=subprocess.DEVNULL, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _hwm_kib(proc.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        out.seek(0)
        return seconds, proc.returncode, peak, out.read()
