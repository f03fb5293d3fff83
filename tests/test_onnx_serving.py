"""The bundled model served through ONNX Runtime: same vectors as sentence-transformers, checked
exports, length-sorted batching, and no torch or sentence-transformers in the serving process."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import Embedder, load_embedder, resolve_model_path
from assistant.errors import ModelError
from assistant.hashing import sha256_of
from assistant.onnx_encoder import GRAPH, MANIFEST, PROBES, TOLERANCE, export_folder
from assistant.settings import BUNDLED_MODEL, BUNDLED_SHA256, Settings
from tests.conftest import KNOWLEDGE, make_settings
from tests.test_ingest import copy_knowledge

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sentence_transformers", "transformers")


@pytest.fixture(scope="module")
def reference() -> Embedder:
    """sentence-transformers' own encode of the same bundled model: the reference."""
    return load_embedder(Settings(_env_file=None, embedding_backend="sentence-transformers"))  # type: ignore[call-arg]


def _texts(every: int = 1) -> list[str]:
    """The knowledge base's chunk texts (every `every`-th: short questions to 256-token sections)."""
    from ingest.pipeline import collect_chunks

    chunks, _, _ = collect_chunks(make_settings(Path("unused")), [])
    return sorted(c.embed_text for c in chunks)[::every]


def test_the_bundled_model_is_served_through_onnx(embedder: Embedder) -> None:
    assert embedder.backend == "onnx" and embedder.model_name == BUNDLED_MODEL and embedder.dimension == 384


@pytest.mark.slow
def test_onnx_matches_sentence_transformers_on_the_knowledge_base_and_odd_inputs(
    embedder: Embedder, reference: Embedder
) -> None:
    texts = [*_texts(every=3), *PROBES, "is walking ok?", "I CAN'T FEEL MY BUM", "x" * 3000, "\u200b", "🙂🙂🙂"]
    ours, theirs = embedder.encode(texts), reference.encode(texts)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape == (len(texts), 384)
    assert float(np.abs(ours - theirs).max()) <= TOLERANCE
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    one = "how long should I hold the hamstring stretch?"
    assert float(np.abs(embedder.encode_one(one) - reference.encode_one(one)).max()) <= TOLERANCE


def test_batching_by_length_gives_the_same_vectors_in_the_callers_order(embedder: Embedder) -> None:
    texts = _texts(every=4) + ["short", "", "a much longer sentence about sciatica and walking " * 12]
    together = embedder.encode(texts)
    shuffled = list(range(len(texts)))
    random.Random(3).shuffle(shuffled)
    again = embedder.encode([texts[i] for i in shuffled])
    alone = np.vstack([embedder.encode([t]) for t in texts[::10]])
    assert float(np.abs(again - together[shuffled]).max()) < 1e-6
    assert float(np.abs(alone - together[::10]).max()) < 1e-6
    small = embedder.encode(texts, batch_size=3)
    assert float(np.abs(small - together).max()) < 1e-6
    assert embedder.encode([]).shape == (0, 384)


def test_the_manifest_records_both_checksums_and_the_reference(embedder: Embedder) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    folder = export_folder(settings.models_path, BUNDLED_SHA256)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["weights_sha256"] == BUNDLED_SHA256
    assert manifest["onnx_sha256"] == sha256_of(folder / GRAPH)
    assert manifest["opset"] == 17 and manifest["max_seq_length"] == 256
    assert manifest["probe_max_abs_diff"] <= TOLERANCE and len(manifest["reference"]) == len(PROBES)
    assert str(settings.models_path) == os.environ["PHYSIO_MODEL_CACHE_DIR"]


def _copy_export(tmp_path: Path) -> Settings:
    """Settings whose models folder holds a copy of the session's export (so it can be damaged)."""
    source = export_folder(Settings(_env_file=None).models_path, BUNDLED_SHA256)  # type: ignore[call-arg]
    settings = make_settings(tmp_path / "data", model_cache_dir=tmp_path / "models")
    shutil.copytree(source, export_folder(settings.models_path, BUNDLED_SHA256))
    return settings


def test_a_tampered_graph_stops_loading_with_a_clear_message(tmp_path: Path, embedder: Embedder) -> None:
    settings = _copy_export(tmp_path)
    graph = export_folder(settings.models_path, BUNDLED_SHA256) / GRAPH
    with graph.open("r+b") as fh:
        fh.seek(5_000_000)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError, match="failed its integrity check.*physio-assistant ingest"):
        load_embedder(settings)


def test_a_graph_that_no_longer_reproduces_the_reference_is_refused(tmp_path: Path, embedder: Embedder) -> None:
    settings = _copy_export(tmp_path)
    path = export_folder(settings.models_path, BUNDLED_SHA256) / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["reference"][0][0] += 1e-3  # as if the runtime now computed something else
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="no longer reproduces sentence-transformers"):
        load_embedder(settings)


@pytest.mark.model  # exports the model (in a child process)
def test_an_export_that_does_not_match_sentence_transformers_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.onnx_export as exporter

    monkeypatch.setattr(exporter, "probe_difference", lambda *a, **k: 3e-4)
    folder = tmp_path / "models" / "export"
    model_dir = resolve_model_path(BUNDLED_MODEL)
    assert isinstance(model_dir, Path)
    with pytest.raises(ModelError, match="does not reproduce sentence-transformers"):
        exporter.export(model_dir, BUNDLED_SHA256, folder, model_name=BUNDLED_MODEL)
    assert not folder.exists() and [p.name for p in folder.parent.iterdir()] == ["export.lock"]


def test_weights_that_are_not_the_verified_ones_are_not_exported(tmp_path: Path) -> None:
    import ingest.onnx_export as exporter

    model_dir = resolve_model_path(BUNDLED_MODEL)
    assert isinstance(model_dir, Path)
    with pytest.raises(ModelError, match="not the ones verified"):
        exporter.export(model_dir, "0" * 64, tmp_path / "export", model_name=BUNDLED_MODEL)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PHYSIO_DATA_DIR": str(data_dir),
        "PHYSIO_KNOWLEDGE_DIR": str(KNOWLEDGE),
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


_PROBE_MODULES = """
import json, sys
from assistant.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def _run_cli_and_list_heavy_modules(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> tuple[str, dict[str, object]]:
    """Run the real `physio-assistant` entry point in a fresh interpreter; after it has replied,
    report which heavy modules that process had imported."""
    code = _PROBE_MODULES.format(heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], input=stdin, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT
    )
    last = [line for line in proc.stderr.splitlines() if line.startswith("{")][-1]
    return proc.stdout, json.loads(last)


@pytest.mark.slow
def test_ask_replies_without_importing_torch_or_sentence_transformers(built_settings: Settings) -> None:
    out, seen = _run_cli_and_list_heavy_modules(["ask", "--json", "is walking ok?"], _env(built_settings.data_dir))
    assert seen == {"code": 0, "heavy": []}
    assert json.loads(out)["sources"]


@pytest.mark.slow
def test_ask_jsonl_and_chat_reply_without_importing_torch(built_settings: Settings) -> None:
    line = json.dumps({"id": "a", "message": "why does my leg tingle?"}) + "\n"
    out, seen = _run_cli_and_list_heavy_modules(["ask", "--jsonl"], _env(built_settings.data_dir), stdin=line)
    assert seen == {"code": 0, "heavy": []} and json.loads(out)["id"] == "a"
    out, seen = _run_cli_and_list_heavy_modules(
        ["chat"], _env(built_settings.data_dir), stdin="is swimming good for back pain?\nquit\n"
    )
    assert seen == {"code": 0, "heavy": []} and "swim" in out.lower()


@pytest.mark.slow
def test_first_use_exports_in_a_child_process_and_ingest_repairs_a_damaged_export(
    tmp_path: Path, built_settings: Settings
) -> None:
    """A new install: `ask` exports the model (in a child) and builds the store, and still imports no
    torch itself; a damaged export then stops `ask` with what to do, and `ingest` replaces it."""
    models = tmp_path / "models"
    env = _env(
        tmp_path / "data", PHYSIO_MODEL_CACHE_DIR=str(models), PHYSIO_KNOWLEDGE_DIR=str(copy_knowledge(tmp_path))
    )
    out, seen = _run_cli_and_list_heavy_modules(["ask", "--json", "is walking ok?"], env)
    assert seen == {"code": 0, "heavy": []} and json.loads(out)["sources"]
    folder = export_folder(models, BUNDLED_SHA256)
    assert (folder / MANIFEST).is_file()
    with (folder / GRAPH).open("r+b") as fh:
        fh.seek(1_000_000)
        fh.write(b"\xff" * 16)
    exe = str(Path(sys.executable).parent / "physio-assistant")
    broken = subprocess.run(
        [exe, "ask", "is walking ok?"], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT
    )
    assert broken.returncode == 2 and "integrity check" in broken.stderr and "physio-assistant ingest" in broken.stderr
    assert "Traceback" not in broken.stderr
    fixed = subprocess.run([exe, "ingest"], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert fixed.returncode == 0, fixed.stderr
    assert "Exporting it again" in fixed.stderr
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["onnx_sha256"] == sha256_of(folder / GRAPH)


@pytest.mark.slow
def test_another_model_still_loads_through_sentence_transformers(tmp_path: Path) -> None:
    from assistant.errors import ConfigError

    folder = resolve_model_path(BUNDLED_MODEL)
    copy = tmp_path / "my-model"
    shutil.copytree(folder, copy)  # type: ignore[arg-type]
    other = load_embedder(make_settings(tmp_path / "data", embedding_model=str(copy)))
    assert other.backend == "sentence-transformers" and other.model_name == str(copy)
    with pytest.raises(ConfigError, match="bundled model only"):
        load_embedder(make_settings(tmp_path / "data", embedding_model=str(copy), embedding_backend="onnx"))
