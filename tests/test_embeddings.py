"""The bundled model is the published all-MiniLM-L6-v2, verified before it loads, and runs offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import resolve_model_path, sha256_of, verify_model
from assistant.errors import ModelError
from assistant.settings import BUNDLED_MODEL, BUNDLED_SHA256, Settings


def test_the_bundled_weights_match_the_published_checksum() -> None:
    folder = resolve_model_path(BUNDLED_MODEL)
    assert isinstance(folder, Path)
    assert sha256_of(folder / "model.safetensors") == BUNDLED_SHA256
    verify_model(folder, BUNDLED_SHA256)


def test_tampered_weights_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    folder = resolve_model_path(BUNDLED_MODEL)
    assert isinstance(folder, Path)
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    with (copy / "model.safetensors").open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError, match="failed its integrity check"):
        verify_model(copy, BUNDLED_SHA256)


def test_a_wrong_expected_checksum_stops_loading() -> None:
    from assistant.embeddings import load_embedder

    with pytest.raises(ModelError, match="integrity"):
        load_embedder(Settings(_env_file=None, embedding_sha256="0" * 64))  # type: ignore[call-arg]


def test_the_model_loads_offline_and_reproduces_known_similarities(embedder) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert embedder.dimension == 384
    v = embedder.encode(["The cat sits outside", "The new movie is awesome", "The new movie is so great"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert float(v[1] @ v[2]) > 0.85 > 0.1 > float(v[0] @ v[1])
