"""int8 dynamic quantisation of the served graph, tried against fp32 in one eval run.

Issue 12 allows int8 only if recall@3, MRR and the triage figures stay the same; this measures
both sides in one process (each with its own store, embedded by that graph) and says whether they
did. The graph that ships is still fp32 unless this says otherwise and someone switches it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from evals.metrics import percentile

# the figures that must not move: retrieval quality and triage safety, on every set that has them
_WATCHED = ("recall@3", "mrr", "under_triage", "over_triage", "accuracy", "exact")


def quantise(graph: Path, out: Path) -> Path:
    """Weights to int8, activations quantised on the fly (onnxruntime's dynamic quantisation)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        quantize_dynamic(str(graph), str(out), weight_type=QuantType.QInt8)
    finally:  # the quantiser configures the root logger (DEBUG lines from every library after it)
        root.setLevel(level)
        root.handlers[:] = handlers
    return out


def _watched(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if any(w in k for w in _WATCHED) and "lenient" not in k}


def compare(settings: Any, work: Path) -> dict[str, Any]:
    """Eval (triage and retrieval) with the fp32 graph and its int8 quantisation; speed and agreement."""
    from assistant.embeddings import Embedder, load_embedder, resolve_model_path
    from assistant.onnx_encoder import GRAPH, OnnxEncoder, export_folder, read_manifest
    from evals import runner
    from ingest.pipeline import collect_chunks

    fp32 = load_embedder(settings.model_copy(update={"embedding_backend": "onnx"}))
    folder = export_folder(settings.models_path, settings.embedding_sha256)
    model_dir = resolve_model_path(settings.embedding_model)
    assert isinstance(model_dir, Path)
    int8_graph = quantise(folder / GRAPH, work / "model-int8.onnx")
    encoder = OnnxEncoder(int8_graph, model_dir / "tokenizer.json", read_manifest(folder).max_seq_length)
    int8 = Embedder(settings.embedding_model, encoder, encoder.dimension, backend="onnx-int8")

    texts = [c.embed_text for c in collect_chunks(settings, [])[0]]
    a, b = fp32.encode(texts), int8.encode(texts)
    cosines = np.sum(a * b, axis=1)
    timings: dict[str, list[float]] = {"fp32": [], "int8": []}
    queries = ["Is walking OK with sciatica?", "how long should I hold the stretch", "can I drive with sciatica?"] * 20
    for i, q in enumerate(queries):
        pair = [("fp32", fp32), ("int8", int8)]
        for name, emb in pair if i % 2 else pair[::-1]:
            start = time.perf_counter()
            emb.encode_one(q)
            timings[name].append((time.perf_counter() - start) * 1000)

    metrics: dict[str, dict[str, float]] = {}
    for name, emb in (("fp32", fp32), ("int8", int8)):
        s = settings.model_copy(update={"data_dir": work / name / "data"})
        results: dict[str, Any] = {}
        runner.main(
            s, work / name / "eval-out", only="triage,retrieval", embedder=emb, results_out=results, say=lambda m: None
        )
        metrics[name] = _watched(results.get("metrics", {}))
    moved = {
        k: [metrics["fp32"][k], metrics["int8"].get(k)]
        for k in metrics["fp32"]
        if metrics["int8"].get(k) != metrics["fp32"][k]
    }
    p50 = {k: round(percentile(v, 50), 2) for k, v in timings.items()}
    f, q = metrics["fp32"], metrics["int8"]
    key3, mrr = "retrieval.hybrid.recall@3", "retrieval.hybrid.mrr"
    summary = (
        f"hybrid recall@3 {f.get(key3, float('nan')):.3f} vs int8 {q.get(key3, float('nan')):.3f}, "
        f"MRR {f.get(mrr, float('nan')):.3f} vs {q.get(mrr, float('nan')):.3f}; "
        f"{len(f) - len(moved)} of {len(f)} retrieval and triage figures unchanged; "
        f"query encode p50 {p50['fp32']:.1f} vs {p50['int8']:.1f} ms; "
        f"int8 vs fp32 cosine min {float(cosines.min()):.4f}; "
        f"graph {int8_graph.stat().st_size / 2**20:.0f} vs {(folder / GRAPH).stat().st_size / 2**20:.0f} MB"
    )
    return {
        "keep_int8": not moved,
        "moved": moved,
        "watched": len(f),
        "fp32": f,
        "int8": q,
        "encode_p50_ms": p50,
        "cosine_min": round(float(cosines.min()), 5),
        "cosine_mean": round(float(cosines.mean()), 5),
        "summary": summary,
    }
