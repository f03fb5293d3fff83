"""The embedded store's snapshot: used only while Chroma's files are unchanged, never stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from assistant.settings import Settings
from assistant.store import _snapshot_paths, open_index, store_stamp
from ingest.pipeline import ingest
from tests.conftest import make_settings
from tests.test_ingest import copy_knowledge


def test_the_second_open_reads_the_snapshot_and_gets_the_same_index(tmp_path: Path, embedder) -> None:
    settings = make_settings(tmp_path / "data", knowledge_dir=copy_knowledge(tmp_path))
    ingest(settings, embedder)
    first = open_index(settings, embedder.model_name, embedder.dimension)
    assert first.collection is not None and _snapshot_paths(settings)[0].is_file()
    second = open_index(settings, embedder.model_name, embedder.dimension)
    assert second.collection is None  # from the snapshot: Chroma not opened
    assert [c.id for c in second.chunks] == [c.id for c in first.chunks]
    assert [c.meta for c in second.chunks] == [c.meta for c in first.chunks]
    assert np.array_equal(second.vectors, first.vectors)
    # a query that needs Chroma's own index opens it then
    assert second.dense(first.vectors[0], 1)[0][0] == first.chunks[0].id


def test_a_changed_store_is_read_from_chroma_not_from_the_old_snapshot(tmp_path: Path, embedder) -> None:
    knowledge = copy_knowledge(tmp_path)
    settings = make_settings(tmp_path / "data", knowledge_dir=knowledge)
    ingest(settings, embedder)
    open_index(settings, embedder.model_name, embedder.dimension)
    before = store_stamp(settings)
    # the shortest article, so that one more sentence stays within the schema's word limit
    article = min(
        sorted((knowledge / "articles").glob("*.md")), key=lambda p: len(p.read_text(encoding="utf-8").split())
    )
    article.write_text(
        article.read_text(encoding="utf-8").replace("\n\n", "\n\nA new first sentence for this test.\n\n", 1),
        encoding="utf-8",
    )
    ingest(settings, embedder)
    assert store_stamp(settings) != before
    index = open_index(settings, embedder.model_name, embedder.dimension)
    assert index.collection is not None
    assert any("A new first sentence for this test." in c.text for c in index.chunks)


def test_a_damaged_snapshot_is_ignored(tmp_path: Path, embedder) -> None:
    settings = make_settings(tmp_path / "data", knowledge_dir=copy_knowledge(tmp_path))
    ingest(settings, embedder)
    good = open_index(settings, embedder.model_name, embedder.dimension)
    head, body = _snapshot_paths(settings)
    body.write_bytes(b"not a numpy file")
    index = open_index(settings, embedder.model_name, embedder.dimension)
    assert index.collection is not None and np.array_equal(index.vectors, good.vectors)
    head.write_text("{", encoding="utf-8")
    assert open_index(settings, embedder.model_name, embedder.dimension).collection is not None


def test_a_process_that_answers_from_the_snapshot_does_not_import_chromadb(built_settings: Settings, embedder) -> None:
    open_index(built_settings, embedder.model_name, embedder.dimension)  # make sure the snapshot is current
    code = (
        "import sys; from assistant.store import open_index; from tests.conftest import make_settings; "
        f"s = make_settings(__import__('pathlib').Path({str(built_settings.data_dir)!r})); "
        "i = open_index(s, s.embedding_model, 384); print(i.collection is None, 'chromadb' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent
    )
    assert out.stdout.split() == ["True", "False"], out.stderr
