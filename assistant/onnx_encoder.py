"""The bundled model at serve time: onnxruntime and tokenizers, no torch, no sentence-transformers.

`ingest.onnx_export` writes the exported graph and a manifest into one folder:

    <models folder>/all-MiniLM-L6-v2-<first 12 of the weights' sha256>/
        model.onnx       the graph: token ids in, mean-pooled L2-normalised embeddings out
        manifest.json    both sha256s (weights and graph), opset, sequence length, versions, and the
                         probe texts with sentence-transformers' own embeddings of them

`load_verified()` trusts the folder only if the manifest names the verified weights, the graph's
sha256 is the one recorded, and the graph reproduces the reference probe embeddings within the
recorded tolerance. Otherwise it raises `ExportInvalid` and says why.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.hashing import sha256_of

MANIFEST = "manifest.json"
GRAPH = "model.onnx"
FORMAT = 1
TOLERANCE = 1e-5
# Padded tokens per batch. Attention memory grows with rows x width^2, so long texts go in small
# batches and short ones in large ones (at most `batch_size`): 4 rows of 256 tokens, 32 of 32.
# Measured on the 534 knowledge-base chunks (2 cores): 1024 a little faster than 512 or 2048-4096,
# a third faster than one 64-row batch at any width; it also keeps the runtime's memory arena small.
TOKEN_BUDGET = 1024
# Fixed probes: short and long, empty, spaces, accents, a text past the sequence limit.
PROBES = (
    "Is walking OK with sciatica?",
    "I can't feel my bum when I wipe",
    "",
    "   leading and trailing spaces   ",
    "Ünïcödé café naïve — “curly quotes” and emoji 🙂",
    "How long should I hold a hamstring stretch, and how many times a day?",
    "The cat sits outside",
    "line one\nline two\ttabbed",
    "numbness " * 300,
)


class ExportInvalid(ModelError):
    """The exported graph is missing, altered or no longer reproduces the reference embeddings."""


def export_folder(models_dir: Path, weights_sha256: str, name: str = "all-MiniLM-L6-v2") -> Path:
    """Where the export of these exact weights lives (a new folder for new weights)."""
    return models_dir / f"{name}-{weights_sha256[:12]}"


class OnnxEncoder:
    """Sentence embeddings from an exported graph; same vectors as sentence-transformers' `encode`.

    Texts are tokenized together, sorted by token length and run in batches that each pad only to
    their own longest text (at most `batch_size` rows, about `TOKEN_BUDGET` padded tokens, and no
    text under half the batch's width), then put back in the caller's order.

        >>> enc = OnnxEncoder(folder / "model.onnx", folder / "tokenizer.json", 256)  # doctest: +SKIP
        >>> enc.encode(["Is walking OK?"], batch_size=64).shape                          # doctest: +SKIP
        (1, 384)
    """

    def __init__(self, graph: Path, tokenizer_file: Path, max_seq_length: int, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.graph = graph
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # the file carries its own 128-token truncation and padding; sentence-transformers uses the
        # model's max_seq_length and pads per batch, so do the same
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # no busy-waiting between runs: same latency, half the CPU per query, and the web server's
        # event loop and other requests keep the cores (spinning threads cost connection time-outs)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised float32 rows, one per text, in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=True)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        start = 0
        while start < len(order):
            width = len(encodings[order[start]].ids)  # the longest of this batch: sorted longest first
            size = max(1, min(batch_size, TOKEN_BUDGET // max(width, 1)))
            end = start + 1
            while end < len(order) and end - start < size and 2 * len(encodings[order[end]].ids) > width:
                end += 1  # a text under half the width starts the next batch: little padding
            rows = order[start:end]
            start = end
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for r, i in enumerate(rows):
                e = encodings[i]
                n = len(e.ids)
                ids[r, :n] = e.ids
                mask[r, :n] = 1
                types[r, :n] = e.type_ids
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            out[rows] = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        return out


@dataclass(frozen=True)
class Manifest:
    """What the exporter recorded, read back."""

    raw: dict[str, Any]

    @property
    def weights_sha256(self) -> str:
        return str(self.raw.get("weights_sha256", ""))

    @property
    def onnx_sha256(self) -> str:
        return str(self.raw.get("onnx_sha256", ""))

    @property
    def max_seq_length(self) -> int:
        return int(self.raw.get("max_seq_length", 256))

    @property
    def tolerance(self) -> float:
        return float(self.raw.get("tolerance", TOLERANCE))

    @property
    def probes(self) -> list[str]:
        return [str(p) for p in self.raw.get("probes", [])]

    @property
    def reference(self) -> np.ndarray:
        return np.asarray(self.raw.get("reference", []), dtype=np.float32)


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ExportInvalid(f"No ONNX export at {folder} yet.") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportInvalid(f"The ONNX manifest {path} cannot be read ({exc}).") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ExportInvalid(f"The ONNX manifest {path} is not one this version writes.")
    return Manifest(raw)


def probe_difference(encoder: OnnxEncoder, probes: list[str], reference: np.ndarray, *, alone: bool = True) -> float:
    """Largest absolute difference from the reference: probes encoded together (padded batch) and,
    when `alone`, one by one too (the exporter checks both; a load, the batch)."""
    diff = float(np.abs(encoder.encode(probes) - reference).max())
    if alone:
        diff = max(diff, float(np.abs(np.vstack([encoder.encode([p]) for p in probes]) - reference).max()))
    return diff


def load_verified(folder: Path, model_dir: Path, weights_sha256: str, *, threads: int | None = None) -> OnnxEncoder:
    """The encoder for an export of exactly these weights, after checking both hashes and the probes."""
    manifest = read_manifest(folder)
    graph = folder / GRAPH
    if manifest.weights_sha256 != weights_sha256:
        raise ExportInvalid(
            f"The ONNX export at {folder} was made from other weights (sha256 {manifest.weights_sha256[:12]}..., "
            f"the bundled model is {weights_sha256[:12]}...)."
        )
    if not graph.is_file():
        raise ExportInvalid(f"The ONNX graph {graph} is missing.")
    actual = sha256_of(graph)
    if actual != manifest.onnx_sha256:
        raise ExportInvalid(
            f"The ONNX graph {graph} failed its integrity check (sha256 {actual[:12]}..., recorded "
            f"{manifest.onnx_sha256[:12]}...)."
        )
    try:
        encoder = OnnxEncoder(graph, model_dir / "tokenizer.json", manifest.max_seq_length, threads=threads)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own kinds; one message for the user
        raise ExportInvalid(f"onnxruntime could not load {graph} ({exc}).") from exc
    reference = manifest.reference
    if reference.shape != (len(manifest.probes), encoder.dimension) or not manifest.probes:
        raise ExportInvalid(f"The ONNX manifest in {folder} has no usable reference embeddings.")
    diff = probe_difference(encoder, manifest.probes, reference, alone=False)
    if not diff <= manifest.tolerance:
        raise ExportInvalid(
            f"The ONNX graph {graph} no longer reproduces sentence-transformers' embeddings "
            f"(largest difference {diff:.2e}, allowed {manifest.tolerance:.0e})."
        )
    return encoder
