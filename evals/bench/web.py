"""The web load test: visitors on loopback against a running server, or one server per embedding path.

Two load generators offer the same load (the same visitors, messages and endpoint): gradio_client,
what programs use, and `queue_client.QueueClient`, the same protocol without gradio_client's polling
threads. Both report what the load generator itself spent, beside the server's CPU: on two cores
the generator competes with the server it measures.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from evals.bench.common import ST_BACKEND, bench_messages, cli_command, free_port, stop, wait_healthy
from evals.metrics import percentile


def web_load(
    url: str,
    visitors: int = 50,
    messages: int = 5,
    *,
    timeout_s: float = 180.0,
    server_pid: int | None = None,
    texts: Sequence[str] | None = None,
    client: str = "gradio",
) -> dict[str, Any]:
    """`visitors` concurrent clients, each sending `messages` chats to `/chat` over loopback.

    `client` is "gradio" (gradio_client) or "lean" (`QueueClient`). Bounded: at most visitors x
    messages calls, every call after `timeout_s` is skipped and counted. `server_pid` lets it sample
    the server's peak RSS and CPU while the load runs.
    """
    host = urlparse(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the web load test runs on loopback only, not {host!r}")
    if not 1 <= visitors <= 200 or not 1 <= messages <= 20:
        raise ValueError("visitors must be 1-200 and messages 1-20")
    if client not in ("gradio", "lean"):
        raise ValueError(f"client must be 'gradio' or 'lean', not {client!r}")
    import httpx

    wait_healthy(url, 30, request_timeout=5)
    pool = list(texts or [r["message"] for r in bench_messages(visitors * messages)])
    latencies: list[float] = []
    errors: list[str] = []
    skipped = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + timeout_s
    peak = {"rss": 0}
    done = threading.Event()

    def sample() -> None:
        import psutil

        proc = psutil.Process(server_pid)
        while not done.is_set():
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            except psutil.Error:
                return
            peak["rss"] = max(peak["rss"], rss)
            time.sleep(0.1)

    def connect(http: httpx.Client | None) -> Any:
        if http is not None:
            from evals.bench.queue_client import QueueClient

            return QueueClient(http, url, "/chat")
        from gradio_client import Client

        return Client(url, verbose=False)

    def visitor(v: int) -> None:
        if client == "gradio":
            calls(v, None)
            return
        # httpx's default 5 s time-outs, as gradio_client has (its event stream waits as long as it takes)
        with httpx.Client(timeout=5.0) as http:
            calls(v, http)

    def calls(v: int, http: httpx.Client | None) -> None:
        nonlocal skipped
        try:
            caller = connect(http)
        except Exception as exc:  # noqa: BLE001 - a failed visitor is a measured error
            with lock:
                errors.append(f"connect: {type(exc).__name__}: {exc}"[:200])
            return
        for m in range(messages):
            if time.monotonic() > stop_at:
                with lock:
                    skipped += messages - m
                return
            start = time.perf_counter()
            try:
                if http is not None:
                    caller.predict(pool[(v * messages + m) % len(pool)])
                else:
                    caller.predict(pool[(v * messages + m) % len(pool)], api_name="/chat")
                with lock:
                    latencies.append((time.perf_counter() - start) * 1000)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])

    sampler = threading.Thread(target=sample, daemon=True) if server_pid else None
    if sampler:
        sampler.start()
    cpu_before = _cpu_seconds(server_pid)
    own_before = os.times()
    started = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(v,), daemon=True) for v in range(visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, stop_at - time.monotonic()) + 30)
    done.set()
    wall = time.perf_counter() - started
    cpu = _cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    own_after = os.times()
    own = (own_after.user - own_before.user) + (own_after.system - own_before.system)
    calls_done = max(len(latencies), 1)
    return {
        "url": url,
        "client": client,
        "visitors": visitors,
        "messages_each": messages,
        "ok": len(latencies),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "skipped_after_timeout": skipped,
        "wall_s": round(wall, 2),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "server_peak_rss_mb": round(peak["rss"] / 2**20, 1) if server_pid else None,
        # what the server itself spent per answered call (the load generator shares the machine)
        "server_cpu_ms_per_call": round(cpu * 1000 / calls_done, 1) if server_pid else None,
        # what the visitors (this process) spent per answered call, on the same cores
        "load_generator_cpu_ms_per_call": round(own * 1000 / calls_done, 1),
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and its children so far."""
    if not pid:
        return 0.0
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0.0


def web_pair(
    data_dir: Path,
    models_dir: Path,
    work: Path,
    visitors: int = 50,
    messages: int = 5,
    clients: Sequence[str] = ("gradio", "lean"),
) -> dict[str, Any]:
    """The loopback load test on two servers started here, one after the other on the same store:
    the served (ONNX) path and the sentence-transformers path, a fresh server for each load
    generator in `clients`. Keys: "onnx" and "sentence_transformers" for gradio_client's load,
    "onnx_lean" and "sentence_transformers_lean" for the lean client's, and the ratios of each pair."""
    base = {
        **os.environ,
        "PHYSIO_DATA_DIR": str(data_dir),
        "PHYSIO_MODEL_CACHE_DIR": str(models_dir),
        "PHYSIO_CHAT_RATE_PER_MINUTE": "100000",  # every loopback visitor shares one address
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    base.pop("PHYSIO_EMBEDDING_BACKEND", None)
    out: dict[str, Any] = {}
    for client in clients:
        suffix = "" if client == "gradio" else f"_{client}"
        for name, extra in (("onnx", {}), ("sentence_transformers", ST_BACKEND)):
            out[name + suffix] = _serve_and_load(
                {**base, **extra}, work / f"server-{name}{suffix}.log", visitors, messages, client
            )
        o, t = out["onnx" + suffix], out["sentence_transformers" + suffix]
        for q in ("p50", "p95"):
            ratio = round(o[f"{q}_ms"] / t[f"{q}_ms"], 3) if t[f"{q}_ms"] else None
            out[f"web_{q}_vs_sentence_transformers{suffix}"] = ratio
    return out


def _serve_and_load(env: dict[str, str], log_path: Path, visitors: int, messages: int, client: str) -> dict[str, Any]:
    """Start `physio-assistant serve` with `env`, wait for /healthz, run the load, stop the server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*cli_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,
        )
    try:
        started = time.perf_counter()
        try:
            wait_healthy(url, 240, proc=proc, interval=0.25)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: see {log_path}") from exc
        ready = time.perf_counter() - started
        result = web_load(url, visitors, messages, server_pid=proc.pid, client=client)
        result["server_ready_s"] = round(ready, 2)
        return result
    finally:
        stop(proc, grace=20)
