"""A steady soak on a running server: errors, latency and resident memory growth over minutes."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlparse

from evals.bench.common import bench_messages, stats


def soak(
    url: str, minutes: float = 10.0, visitors: int = 4, *, server_pid: int | None = None, max_calls: int = 20_000
) -> dict[str, Any]:
    """Steady load on a running server for `minutes`: errors, latency, and resident memory growth.

    Bounded in time and count, loopback only. Memory is sampled after a one-minute warm-up (or a
    tenth of the run) and at the end; growth is the later samples' median over the warm one.
    """
    host = urlparse(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the soak test runs on loopback only, not {host!r}")
    import psutil
    from gradio_client import Client

    texts = [r["message"] for r in bench_messages(400)]
    proc = psutil.Process(server_pid) if server_pid else None
    stop_at = time.monotonic() + minutes * 60
    warm_at = time.monotonic() + min(60.0, minutes * 6)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    samples: list[tuple[float, float]] = []
    calls = {"n": 0}

    def rss_mb() -> float:
        if proc is None:
            return 0.0
        return (proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))) / 1e6

    def sampler() -> None:
        while time.monotonic() < stop_at:
            samples.append((time.monotonic(), rss_mb()))
            time.sleep(5)

    def visitor(v: int) -> None:
        client = Client(url, verbose=False)
        i = v
        while time.monotonic() < stop_at:
            with lock:
                if calls["n"] >= max_calls:
                    return
                calls["n"] += 1
            start = time.perf_counter()
            try:
                client.predict(texts[i % len(texts)], api_name="/chat")
                with lock:
                    latencies.append((time.perf_counter() - start) * 1000)
            except Exception as exc:  # noqa: BLE001 - counted, never raised
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
            i += visitors

    threads = [threading.Thread(target=sampler, daemon=True)] + [
        threading.Thread(target=visitor, args=(v,), daemon=True) for v in range(visitors)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=minutes * 60 + 120)
    warm = [mb for t, mb in samples if t >= warm_at][:3] or [mb for _, mb in samples][:1] or [0.0]
    late = [mb for _, mb in samples][-3:] or [0.0]
    warm_mb, late_mb = sorted(warm)[len(warm) // 2], sorted(late)[len(late) // 2]
    return {
        "minutes": minutes,
        "visitors": visitors,
        "calls": len(latencies) + len(errors),
        "errors": len(errors),
        "error_examples": errors[:5],
        **{f"{k}_ms": v for k, v in stats(latencies).items()},
        "rss_after_warmup_mb": round(warm_mb, 1),
        "rss_end_mb": round(late_mb, 1),
        "rss_growth": round((late_mb - warm_mb) / warm_mb, 4) if warm_mb else None,
    }
