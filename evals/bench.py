"""`physio-assistant bench`: speed and memory as ratios against bare model operations, side by side.

The machine is shared and noisy, so each figure is measured next to its baseline in the same run
(interleaved where it can be) and reported as a ratio. The baselines are bare sentence-transformers
operations on the same bundled model (what serving cost before it moved to ONNX Runtime): per-turn
latency against a bare query encode, ingest against raw encode throughput, cold start against a
bare model load plus one encode, a one-shot `ask` against the same command on the
sentence-transformers path (PHYSIO_EMBEDDING_BACKEND=sentence-transformers), serving memory
against the bare model's. `--web` starts one server per path on loopback and load-tests both
(50 visitors x 5 messages); `--url` load-tests a server already running. `--int8` tries int8
dynamic quantisation of the graph against fp32 in one eval run (retrieval and triage figures).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from evals.metrics import percentile

DATASETS = Path(__file__).with_name("datasets")
# targets from the issues (issue 4 "Done means", issue 3 "Benchmark", issue 12 "Done when"); the bench reports, CI decides
TARGETS = {
    "turn_p50_ratio": ("<=", 0.5),
    "turn_p95_ratio": ("<=", 1.0),
    "jsonl_200_seconds": ("<", 20.0),
    "triage_p95_ms": ("<=", 5.0),
    "cold_start_ratio": ("<=", 0.25),
    "ask_vs_sentence_transformers": ("<=", 0.25),
    "serving_peak_rss_mb": ("<=", 350.0),
    "ingest_vs_raw_throughput": (">=", 1.5),
    "web_p95_vs_sentence_transformers": ("<=", 0.25),
}
ST_BACKEND = {"PHYSIO_EMBEDDING_BACKEND": "sentence-transformers"}
_BARE_LOAD = (
    "import sys, time; from sentence_transformers import SentenceTransformer; "
    "m = SentenceTransformer(sys.argv[1], device='cpu'); m.encode(['Is walking OK with sciatica?'], normalize_embeddings=True)"
)


def bench_messages(n: int = 200, seed: int = 7) -> list[dict[str, Any]]:
    """`n` messages (with their history) drawn evenly from the datasets, the same every run."""
    pool: list[dict[str, Any]] = []
    for name in ("triage.jsonl", "retrieval.jsonl", "answers.jsonl"):
        path = DATASETS / name
        if path.is_file():
            pool += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(pool)
    return [{"id": str(r["id"]), "message": r["message"], "history": r.get("history") or []} for r in pool[:n]]


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2), "mean": round(sum(values) / max(len(values), 1), 2)}


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
            sink.append(_ms(fn))
        turns = parse_history(r["history"])
        assistant.engine.forget()  # reply() just triaged this message: time it as a new one, not a cache hit
        triage.append(_ms(lambda r=r, turns=turns: assistant.engine.triage(r["message"], turns)))
    e, o, t, g = _stats(bare), _stats(served), _stats(reply), _stats(triage)
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
        "samples": {"encode": [round(x, 2) for x in bare], "served_encode": [round(x, 2) for x in served], "reply": [round(x, 2) for x in reply]},
    }


def ingest_figures(settings: Any, embedder: Any, data_dir: Path, reference: Any) -> dict[str, Any]:
    """Full ingest into an empty folder (the served embedder) against raw sentence-transformers
    encode of the same chunk texts, before and after; then unchanged re-ingest."""
    from ingest.pipeline import collect_chunks, ingest

    temp = settings.model_copy(update={"data_dir": data_dir})
    chunks, _, _ = collect_chunks(temp, [])
    texts = [c.embed_text for c in chunks]

    def raw_encode(model: Any) -> float:
        start = time.perf_counter()
        model.encode(texts, batch_size=64)
        return time.perf_counter() - start

    before = raw_encode(reference)  # before and after the ingest, so drift in machine load is shared
    served_raw = raw_encode(embedder)
    start = time.perf_counter()
    summary = ingest(temp, embedder)
    full = time.perf_counter() - start
    raw = [before, raw_encode(reference)]
    again = []
    for _ in range(3):
        start = time.perf_counter()
        s = ingest(temp, embedder)
        again.append(time.perf_counter() - start)
    raw_s = sum(raw) / len(raw)
    re_s = sorted(again)[1]
    return {
        "chunks": len(chunks),
        "embedded": summary.embedded,
        "full_ingest_s": round(full, 2),
        "raw_encode_s": round(raw_s, 2),
        "served_raw_encode_s": round(served_raw, 2),
        "ingest_chunks_per_s": round(len(chunks) / full, 1),
        "raw_encode_chunks_per_s": round(len(chunks) / raw_s, 1),
        "ingest_vs_raw_throughput": round(raw_s / full, 3),
        "reingest_unchanged_s": round(re_s, 3),
        "reingest_vs_full": round(re_s / full, 4),
        "reingest_unchanged_chunks": s.unchanged,
    }


def _cli() -> list[str]:
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


def _run(cmd: list[str], env: dict[str, str], stdin: Path | None = None) -> tuple[float, int, int, bytes]:
    """Wall seconds, exit code, peak RSS (KiB, polled every 50 ms), stdout.

    `ru_maxrss` of a child is no good here: Linux carries the parent's high-water mark across
    fork and exec, so every child would report the bench process's own size.
    """
    with tempfile.TemporaryFile() as out, (stdin.open("rb") if stdin else open(os.devnull, "rb")) as inp:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=subprocess.DEVNULL, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _hwm_kib(proc.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        out.seek(0)
        return seconds, proc.returncode, peak, out.read()


def cold_start(data_dir: Path, model_path: str, models_dir: Path, repeats: int = 3) -> dict[str, Any]:
    """A one-shot `ask "..."` in a fresh process (store ready), served (ONNX) and on the
    sentence-transformers path, against a bare SentenceTransformer load + one encode; interleaved."""
    env = {**os.environ, "PHYSIO_DATA_DIR": str(data_dir), "PHYSIO_MODEL_CACHE_DIR": str(models_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("PHYSIO_EMBEDDING_BACKEND", None)
    st_env = {**env, **ST_BACKEND}
    question = [*_cli(), "ask", "Is walking OK with sciatica?"]
    first_ever, code, _, _ = _run(question, env)  # builds the sentence cache once, as a new install does
    if code != 0:
        raise RuntimeError(f"`physio-assistant ask` exited with {code}")
    runs: dict[str, list[tuple[float, int]]] = {"ask": [], "ask_st": [], "bare": []}
    commands = {"ask": (question, env), "ask_st": (question, st_env), "bare": ([sys.executable, "-c", _BARE_LOAD, model_path], env)}
    for i in range(repeats):
        names = list(commands)
        for name in names[i % 3 :] + names[: i % 3]:
            cmd, e = commands[name]
            s, code, rss, _ = _run(cmd, e)
            if code != 0:
                raise RuntimeError(f"{name} exited with {code}")
            runs[name].append((s, rss))

    def median(name: str) -> float:
        values = sorted(x[0] for x in runs[name])
        return values[len(values) // 2]

    a, st, b = median("ask"), median("ask_st"), median("bare")
    return {
        "ask_first_answer_s": round(a, 2),
        "ask_sentence_transformers_s": round(st, 2),
        "bare_model_load_s": round(b, 2),
        "cold_start_ratio": round(a / b, 3),
        "ask_vs_sentence_transformers": round(a / st, 3),
        "first_ever_ask_s": round(first_ever, 2),
        "ask_peak_rss_mb": round(max(x[1] for x in runs["ask"]) / 1024, 1),
        "ask_sentence_transformers_peak_rss_mb": round(max(x[1] for x in runs["ask_st"]) / 1024, 1),
        "bare_model_peak_rss_mb": round(max(x[1] for x in runs["bare"]) / 1024, 1),
        "runs": repeats,
    }


def jsonl_run(data_dir: Path, rows: Sequence[dict[str, Any]], work: Path, models_dir: Path, repeats: int = 3) -> dict[str, Any]:
    """`ask --jsonl` on the messages, wall time including the model load (median of `repeats`).

    Its peak RSS is the serving memory: the same loaded pipeline the web app holds, minus gradio.
    """
    env = {**os.environ, "PHYSIO_DATA_DIR": str(data_dir), "PHYSIO_MODEL_CACHE_DIR": str(models_dir)}
    env.pop("PHYSIO_EMBEDDING_BACKEND", None)
    feed = work / "bench-input.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runs = []
    for _ in range(repeats):
        seconds, code, rss, out = _run([*_cli(), "ask", "--jsonl"], env, stdin=feed)
        lines = [json.loads(x) for x in out.decode("utf-8").splitlines() if x.strip()]
        runs.append({
            "seconds": seconds,
            "exit_code": code,
            "outputs": len(lines),
            "errors": sum("error" in x for x in lines),
            "replies_seconds": sum(float(x.get("latency_ms", 0)) for x in lines) / 1000,
            "rss": rss,
        })
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


# ---- the web load test (only when asked) -----------------------------------------------------
def web_load(
    url: str,
    visitors: int = 50,
    messages: int = 5,
    *,
    timeout_s: float = 180.0,
    server_pid: int | None = None,
    texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """`visitors` concurrent gradio clients, each sending `messages` chats to `/chat` over loopback.

    Bounded: at most visitors x messages calls, every call after `timeout_s` is skipped and counted.
    `server_pid` lets it sample the server's peak RSS while the load runs.
    """
    host = urlparse(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the web load test runs on loopback only, not {host!r}")
    if not 1 <= visitors <= 200 or not 1 <= messages <= 20:
        raise ValueError("visitors must be 1-200 and messages 1-20")
    import httpx
    from gradio_client import Client

    deadline = time.monotonic() + 30
    while True:  # the app answers /healthz once its store is loaded
        try:
            if httpx.get(url.rstrip("/") + "/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/healthz did not answer 200 within 30 s")
        time.sleep(0.5)
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

    def visitor(v: int) -> None:
        nonlocal skipped
        try:
            client = Client(url, verbose=False)
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
                client.predict(pool[(v * messages + m) % len(pool)], api_name="/chat")
                with lock:
                    latencies.append((time.perf_counter() - start) * 1000)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])

    sampler = threading.Thread(target=sample, daemon=True) if server_pid else None
    if sampler:
        sampler.start()
    cpu_before = _cpu_seconds(server_pid)
    started = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(v,), daemon=True) for v in range(visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, stop_at - time.monotonic()) + 30)
    done.set()
    wall = time.perf_counter() - started
    cpu = _cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    return {
        "url": url,
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
        "server_cpu_ms_per_call": round(cpu * 1000 / max(len(latencies), 1), 1) if server_pid else None,
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_pair(data_dir: Path, models_dir: Path, work: Path, visitors: int = 50, messages: int = 5) -> dict[str, Any]:
    """The loopback load test on two servers started here, one after the other on the same store:
    the served (ONNX) path and the sentence-transformers path. Each is stopped after its test."""
    import httpx

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
    for name, extra in (("onnx", {}), ("sentence_transformers", ST_BACKEND)):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with (work / f"server-{name}.log").open("w") as log:
            proc = subprocess.Popen([*_cli(), "serve", "--host", "127.0.0.1", "--port", str(port)], env={**base, **extra}, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        try:
            started, deadline = time.perf_counter(), time.monotonic() + 240
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the {name} server exited with {proc.returncode}: see {work / f'server-{name}.log'}")
                try:
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {name} server did not answer /healthz within 240 s")
                time.sleep(0.25)
            ready = time.perf_counter() - started
            result = web_load(url, visitors, messages, server_pid=proc.pid)
            result["server_ready_s"] = round(ready, 2)
            out[name] = result
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    o, t = out["onnx"], out["sentence_transformers"]
    out["web_p50_vs_sentence_transformers"] = round(o["p50_ms"] / t["p50_ms"], 3) if t["p50_ms"] else None
    out["web_p95_vs_sentence_transformers"] = round(o["p95_ms"] / t["p95_ms"], 3) if t["p95_ms"] else None
    return out


# ---- the command ------------------------------------------------------------------------------
def soak(url: str, minutes: float = 10.0, visitors: int = 4, *, server_pid: int | None = None, max_calls: int = 20_000) -> dict[str, Any]:
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

    threads = [threading.Thread(target=sampler, daemon=True)] + [threading.Thread(target=visitor, args=(v,), daemon=True) for v in range(visitors)]
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
        **{f"{k}_ms": v for k, v in _stats(latencies).items()},
        "rss_after_warmup_mb": round(warm_mb, 1),
        "rss_end_mb": round(late_mb, 1),
        "rss_growth": round((late_mb - warm_mb) / warm_mb, 4) if warm_mb else None,
    }


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

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = url or os.environ.get("PHYSIO_BENCH_URL") or None
    started = time.perf_counter()
    rows = bench_messages(n)
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "model": settings.embedding_model}
    results["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    timings: dict[str, float] = {}

    def step(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        results[name] = fn()
        timings[name] = round(time.perf_counter() - start, 1)

    assistant = Assistant.load(settings, say=lambda m: print(m, file=sys.stderr))
    reference = load_embedder(settings.model_copy(update={"embedding_backend": "sentence-transformers"}))
    models_dir = settings.models_path
    results["served_backend"] = assistant.embedder.backend
    step("turn", lambda: turn_latency(assistant, rows, reference))
    from evals.bench_triage import long_input

    step("triage_long", lambda: long_input(assistant))
    work = Path(tempfile.mkdtemp(prefix="physio-bench-"))
    try:
        step("ingest", lambda: ingest_figures(settings, assistant.embedder, work / "data", reference))
        step("cold_start", lambda: cold_start(work / "data", str(resolve_model_path(settings.embedding_model)), models_dir))
        step("jsonl", lambda: jsonl_run(work / "data", rows, work, models_dir))
        if web:
            step("web_pair", lambda: web_pair(work / "data", models_dir, work))
        if int8:
            from evals.quantise import compare

            step("int8", lambda: compare(settings, work / "int8"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["memory"] = {
        "serving_peak_rss_mb": results["jsonl"]["serving_peak_rss_mb"],
        "bare_model_peak_rss_mb": results["cold_start"]["bare_model_peak_rss_mb"],
        "serving_vs_bare_model": round(results["jsonl"]["serving_peak_rss_mb"] / results["cold_start"]["bare_model_peak_rss_mb"], 2),
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


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    values = {
        "turn_p50_ratio": results["turn"]["turn_p50_ratio"],
        "turn_p95_ratio": results["turn"]["turn_p95_ratio"],
        "jsonl_200_seconds": results["jsonl"]["jsonl_seconds"],
        "triage_p95_ms": results["turn"]["triage_p95_ms"],
        "cold_start_ratio": results["cold_start"]["cold_start_ratio"],
        "ask_vs_sentence_transformers": results["cold_start"]["ask_vs_sentence_transformers"],
        "serving_peak_rss_mb": results["memory"]["serving_peak_rss_mb"],
        "ingest_vs_raw_throughput": results["ingest"]["ingest_vs_raw_throughput"],
    }
    if results.get("web_pair", {}).get("web_p95_vs_sentence_transformers") is not None:
        values["web_p95_vs_sentence_transformers"] = results["web_pair"]["web_p95_vs_sentence_transformers"]
    ops = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b}
    return {k: {"value": v, "target": f"{TARGETS[k][0]} {TARGETS[k][1]:g}", "met": ops[TARGETS[k][0]](v, TARGETS[k][1])} for k, v in values.items()}


def markdown(r: dict[str, Any]) -> str:
    t, i, c, j, mem = r["turn"], r["ingest"], r["cold_start"], r["jsonl"], r["memory"]
    tg = r["targets"]

    def mark(key: str) -> str:
        return f" ({'meets' if tg[key]['met'] else 'MISSES'} {tg[key]['target']})"

    m = r["machine"]
    rows = [
        ("Per-turn latency p50", f"{t['reply_ms']['p50']:.1f} ms vs bare sentence-transformers encode {t['encode_ms']['p50']:.1f} ms", f"{t['turn_p50_ratio']:.2f}x" + mark("turn_p50_ratio")),
        ("Per-turn latency p95", f"{t['reply_ms']['p95']:.1f} ms vs bare sentence-transformers encode {t['encode_ms']['p95']:.1f} ms", f"{t['turn_p95_ratio']:.2f}x" + mark("turn_p95_ratio")),
        ("Served query encode p50", f"{t['served_encode_ms']['p50']:.1f} ms ({t['backend']}) vs {t['encode_ms']['p50']:.1f} ms; a whole turn is {t['turn_p50_vs_served_encode']:.2f}x the served encode", f"{t['served_encode_p50_ratio']:.2f}x"),
        ("Triage alone p95", f"{t['triage_ms']['p95']:.2f} ms (p50 {t['triage_ms']['p50']:.2f} ms)", f"{t['triage_p95_vs_encode_p95']:.3f}x encode p95" + mark("triage_p95_ms")),
        ("Ingest throughput", f"{i['ingest_chunks_per_s']:.0f} chunks/s vs raw sentence-transformers encode {i['raw_encode_chunks_per_s']:.0f} chunks/s ({i['chunks']} chunks; raw served encode {i['served_raw_encode_s']:.1f} s)", f"{i['ingest_vs_raw_throughput']:.2f}x" + mark("ingest_vs_raw_throughput")),
        ("Unchanged re-ingest", f"{i['reingest_unchanged_s']:.2f} s vs full ingest {i['full_ingest_s']:.1f} s", f"{i['reingest_vs_full']:.3f}x"),
        ("Cold start to first answer", f"{c['ask_first_answer_s']:.1f} s vs bare sentence-transformers load + 1 encode {c['bare_model_load_s']:.1f} s (median of {c['runs']}; very first ask, building the sentence cache: {c['first_ever_ask_s']:.1f} s)", f"{c['cold_start_ratio']:.2f}x" + mark("cold_start_ratio")),
        ("One-shot `ask`", f"{c['ask_first_answer_s']:.1f} s vs {c['ask_sentence_transformers_s']:.1f} s on the sentence-transformers path (peak RSS {c['ask_peak_rss_mb']:.0f} vs {c['ask_sentence_transformers_peak_rss_mb']:.0f} MB)", f"{c['ask_vs_sentence_transformers']:.2f}x" + mark("ask_vs_sentence_transformers")),
        (f"`ask --jsonl`, {j['messages']} messages", f"{j['jsonl_seconds']:.1f} s incl. model load (median of {j['runs']}, range {j['jsonl_seconds_min_max'][0]:.1f}-{j['jsonl_seconds_min_max'][1]:.1f} s; {j['replies_seconds']:.1f} s of it in replies), {j['errors']} errors", mark("jsonl_200_seconds").strip(" ()")),
        ("Serving memory (peak RSS, `ask --jsonl`)", f"{mem['serving_peak_rss_mb']:.0f} MB vs bare sentence-transformers model {mem['bare_model_peak_rss_mb']:.0f} MB", f"{mem['serving_vs_bare_model']:.2f}x" + mark("serving_peak_rss_mb")),
    ]
    if "triage_long" in r:
        tl = r["triage_long"]
        for size in (1000, 4000, 8000):
            rows.append((
                f"Triage of a new {size:,}-character message, p50 / p95",
                f"rules {tl[f'rules_{size}']['p50']:.1f} / {tl[f'rules_{size}']['p95']:.1f} ms; rules + net {tl[f'rules_net_{size}']['p50']:.1f} / {tl[f'rules_net_{size}']['p95']:.1f} ms",
                "target (rules) 5 ms at 1,000 and 50 ms at 8,000",
            ))
        rows.append((
            "Triage with 10 long history turns (1,200 characters each), p50 / p95",
            f"rules {tl['rules_history_10x1200']['p50']:.1f} / {tl['rules_history_10x1200']['p95']:.1f} ms; rules + net {tl['rules_net_history_10x1200']['p50']:.1f} / {tl['rules_net_history_10x1200']['p95']:.1f} ms",
            "",
        ))
    if "web_pair" in r:
        wp = r["web_pair"]
        for name, label in (("onnx", "served (ONNX)"), ("sentence_transformers", "sentence-transformers path")):
            w = wp[name]
            rows.append((
                f"Web load, {label} ({w['visitors']} visitors x {w['messages_each']})",
                f"p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms, {w['errors']} errors, {w['skipped_after_timeout']} skipped; "
                f"server CPU {w['server_cpu_ms_per_call']:.0f} ms per call; server ready in {w['server_ready_s']:.1f} s",
                f"server peak {w['server_peak_rss_mb']} MB",
            ))
        if wp.get("web_p95_vs_sentence_transformers") is not None:
            rows.append(("Web load p95, served vs sentence-transformers", f"p50 ratio {wp['web_p50_vs_sentence_transformers']:.2f}x", f"{wp['web_p95_vs_sentence_transformers']:.2f}x" + mark("web_p95_vs_sentence_transformers")))
    if "web" in r:
        w = r["web"]
        rows.append((
            f"Web load ({w['visitors']} visitors x {w['messages_each']})",
            f"p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms, {w['errors']} errors, {w['skipped_after_timeout']} skipped",
            f"server peak {w['server_peak_rss_mb']} MB" if w["server_peak_rss_mb"] else "",
        ))
    if "web" not in r and "web_pair" not in r:
        rows.append(("Web load", "not run (give --web, or --url / PHYSIO_BENCH_URL)", ""))
    if "int8" in r:
        q = r["int8"]
        rows.append(("int8 dynamic quantisation", q["summary"], "kept" if q["keep_int8"] else "not kept: fp32 stays"))
    lines = [
        f"Benchmarks, {r['started']}, on {m['cpu']} ({m['cores']} cores, {m['memory_gb']} GB), Python {m['python']}; took {r['timings']['total']:.0f} s; "
        f"1-min load average {r['load_average_start'][0]:g} at the start, {r['load_average_end'][0]:g} at the end (a busy machine slows the absolute figures, less so the ratios).",
        "",
        "| Figure | Measured side by side | Ratio |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c_} |" for a, b, c_ in rows]
    return "\n".join(lines)


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    samples = r["turn"]["samples"]
    ax1.boxplot([samples["encode"], samples.get("served_encode", []), samples["reply"]], showfliers=True)
    ax1.set_xticks([1, 2, 3], ["bare s-t encode", "served encode", "assistant.reply"])
    ax1.set_yscale("log")
    ax1.set_ylabel("ms per message (log)")
    ax1.set_title(f"Per-turn latency, {r['turn']['n']} messages")
    labels = ["turn p50", "turn p95", "ingest\nthroughput", "re-ingest\nvs full", "cold start", "one-shot\nask", "memory"]
    values = [
        r["turn"]["turn_p50_ratio"], r["turn"]["turn_p95_ratio"], r["ingest"]["ingest_vs_raw_throughput"],
        r["ingest"]["reingest_vs_full"], r["cold_start"]["cold_start_ratio"], r["cold_start"]["ask_vs_sentence_transformers"],
        r["memory"]["serving_vs_bare_model"],
    ]
    bars = ax2.bar(labels, values, color="#4c72b0")
    for bar, v in zip(bars, values, strict=True):
        ax2.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{v:.2f}x", ha="center", va="bottom", fontsize=9)
    ax2.axhline(1.0, color="grey", linestyle=":")
    ax2.set_title("Ratios to the bare baseline (1.0 = same as baseline)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _main() -> int:
    from assistant.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--url", help="run the web load test against this loopback URL (the app must be serving)")
    parser.add_argument("--server-pid", type=int, help="the server's pid, to sample its peak memory during the load test")
    parser.add_argument("-n", type=int, default=200, help="messages for the latency and --jsonl figures")
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="after the load test, a steady soak of this many minutes")
    parser.add_argument("--web", action="store_true", help="start a server per embedding path on loopback and load-test both")
    parser.add_argument("--int8", action="store_true", help="also try int8 dynamic quantisation against fp32 in one eval run")
    args = parser.parse_args()
    main(Settings(), args.out, url=args.url, server_pid=args.server_pid, n=args.n, soak_minutes=args.soak_minutes, web=args.web, int8=args.int8)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
