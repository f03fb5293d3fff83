"""Cold start: a one-shot `ask` in a fresh process, both embedding paths, against a bare model load."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from evals.bench.common import ST_BACKEND, cli_command, run_child

_BARE_LOAD = (
    "import sys, time; from sentence_transformers import SentenceTransformer; "
    "m = SentenceTransformer(sys.argv[1], device='cpu'); "
    "m.encode(['Is walking OK with sciatica?'], normalize_embeddings=True)"
)


def cold_start(data_dir: Path, model_path: str, models_dir: Path, repeats: int = 3) -> dict[str, Any]:
    """A one-shot `ask "..."` in a fresh process (store ready), served (ONNX) and on the
    sentence-transformers path, against a bare SentenceTransformer load + one encode; interleaved."""
    env = {
        **os.environ,
        "PHYSIO_DATA_DIR": str(data_dir),
        "PHYSIO_MODEL_CACHE_DIR": str(models_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("PHYSIO_EMBEDDING_BACKEND", None)
    st_env = {**env, **ST_BACKEND}
    question = [*cli_command(), "ask", "Is walking OK with sciatica?"]
    first_ever, code, _, _ = run_child(question, env)  # builds the sentence cache once, as a new install does
    if code != 0:
        raise RuntimeError(f"`physio-assistant ask` exited with {code}")
    runs: dict[str, list[tuple[float, int]]] = {"ask": [], "ask_st": [], "bare": []}
    commands = {
        "ask": (question, env),
        "ask_st": (question, st_env),
        "bare": ([sys.executable, "-c", _BARE_LOAD, model_path], env),
    }
    for i in range(repeats):
        names = list(commands)
        for name in names[i % 3 :] + names[: i % 3]:
            cmd, e = commands[name]
            s, code, rss, _ = run_child(cmd, e)
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
