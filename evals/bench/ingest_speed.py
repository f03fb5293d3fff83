"""Ingest throughput against raw sentence-transformers encode of the same chunks; unchanged re-ingest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


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
