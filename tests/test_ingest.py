"""Ingestion against the real model and a real Chroma store: validation, idempotency, crash safety."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.errors import ConfigError, StoreError
from assistant.settings import Settings
from assistant.store import open_client, open_index
from evals.bench.common import free_port
from ingest.pipeline import ingest
from tests.conftest import KNOWLEDGE, make_settings

SEED = Path(__file__).resolve().parent.parent.parent / "shared" / "seed"


SMALL_ARTICLES = [
    "heat-and-ice",
    "driving-with-sciatica",
    "what-is-sciatica",
    "walking-with-sciatica",
    "sleep-positions",
]
SMALL_CARDS = ["clam", "walking-programme", "hamstring-stretch"]


def copy_knowledge(tmp_path: Path) -> Path:
    """A small but real copy of the knowledge base: same schema and rules, fewer articles (faster)."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.py", "articles", "exercises"))
    (target / "articles").mkdir()
    (target / "exercises").mkdir()
    for name in SMALL_ARTICLES:
        shutil.copy(KNOWLEDGE / "articles" / f"{name}.md", target / "articles")
    for name in SMALL_CARDS:
        shutil.copy(KNOWLEDGE / "exercises" / f"{name}.yaml", target / "exercises")
    return target


@pytest.fixture()
def small(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", knowledge_dir=copy_knowledge(tmp_path))


def test_first_ingest_fills_the_store_and_a_second_changes_nothing(small: Settings, embedder) -> None:
    first = ingest(small, embedder)
    assert first.added > 30 and first.embedded == first.added
    second = ingest(small, embedder)
    assert (second.added, second.updated, second.removed, second.embedded) == (0, 0, 0, 0)
    assert second.unchanged == first.added
    index = open_index(small, embedder.model_name, embedder.dimension)
    assert len(index.chunks) == first.added
    assert {"source_id", "title", "kind", "status", "section", "source_file"} <= set(index.chunks[0].meta)


def test_changed_and_removed_content_is_replaced_and_removed(tmp_path: Path, embedder) -> None:
    knowledge = copy_knowledge(tmp_path)
    settings = make_settings(tmp_path / "data", knowledge_dir=knowledge)
    ingest(settings, embedder)
    article = knowledge / "articles" / "heat-and-ice.md"
    front, end, body = article.read_text(encoding="utf-8").partition("\n---\n")
    article.write_text(
        front + end + body.replace(". ", ". Updated today. ", 1), encoding="utf-8"
    )  # one section's text changes
    (knowledge / "articles" / "driving-with-sciatica.md").unlink()
    summary = ingest(settings, embedder)
    assert summary.updated > 0 and summary.removed > 0
    assert summary.embedded < 6, "only the changed chunks are embedded again"
    index = open_index(settings, embedder.model_name, embedder.dimension)
    sources = {c.meta["source_id"] for c in index.chunks}
    assert "driving-with-sciatica" not in sources and "heat-and-ice" in sources


def test_an_invalid_file_stops_ingest_with_file_field_and_problem_and_writes_nothing(tmp_path: Path, embedder) -> None:
    knowledge = copy_knowledge(tmp_path)
    card = knowledge / "exercises" / "clam.yaml"
    card.write_text(card.read_text(encoding="utf-8") + "colour: blue\n", encoding="utf-8")
    settings = make_settings(tmp_path / "data", knowledge_dir=knowledge)
    with pytest.raises(ConfigError) as info:
        ingest(settings, embedder)
    assert "clam.yaml: colour: Extra inputs are not permitted" in str(info.value)
    with pytest.raises(StoreError, match="empty"):
        open_index(settings, embedder.model_name, embedder.dimension)


def test_a_store_built_with_another_model_is_refused_with_how_to_rebuild(small: Settings, embedder) -> None:
    ingest(small, embedder)
    with pytest.raises(StoreError, match="ingest --rebuild"):
        open_index(small, "some-other-model", 768)
    other = type(embedder)("some-other-model", embedder._model, embedder.dimension)
    with pytest.raises(StoreError, match="ingest --rebuild"):
        ingest(small, other)
    rebuilt = ingest(small, other, rebuild=True)
    assert rebuilt.embedded == rebuilt.updated
    assert open_index(small, "some-other-model", embedder.dimension).chunks


def test_two_ingests_at_once_are_refused(small: Settings, embedder) -> None:
    from filelock import FileLock

    small.data_dir.mkdir(parents=True)
    with FileLock(str(small.data_dir / "ingest.lock")), pytest.raises(StoreError, match="Another ingest is running"):
        ingest(small, embedder)


def test_clinic_documents_are_added_and_bad_files_are_reported_one_by_one(
    small: Settings, embedder, tmp_path: Path
) -> None:
    fresh_settings = small
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leaflet.md").write_text(
        "# Our back class\n\nEvery Tuesday evening we run a gentle back class for people with sciatica.\n",
        encoding="utf-8",
    )
    (docs / "page.html").write_text(
        "<html><title>Parking</title><body><p>Free parking is behind the clinic building for all "
        "patients.</p><script>alert(1)</script></body></html>",
        encoding="utf-8",
    )
    (docs / "empty.txt").write_bytes(b"")
    (docs / "latin1.txt").write_bytes("Caf\xe9 opening hours are on the board by reception today".encode("latin-1"))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf")
    (docs / "huge.txt").write_bytes(b"word " * (1_200_000))
    paths = sorted(docs.iterdir())
    if SEED.is_dir():
        paths += sorted(SEED.iterdir())
    summary = ingest(fresh_settings, embedder, paths)
    problems = "\n".join(summary.problems)
    for name, why in [
        ("empty.txt", "empty"),
        ("latin1.txt", "not UTF-8"),
        ("broken.pdf", "not a readable PDF"),
        ("huge.txt", "over the 5 MB limit"),
    ]:
        assert name in problems and why in problems
    index = open_index(fresh_settings, embedder.model_name, embedder.dimension)
    docs_in_store = {c.meta["source_file"] for c in index.chunks if c.meta["kind"] == "document"}
    assert {"leaflet.md", "page.html"} <= docs_in_store
    assert all("alert(1)" not in c.text for c in index.chunks)
    assert all(c.meta["status"] == "draft" for c in index.chunks if c.meta["kind"] == "document")
    again = ingest(fresh_settings, embedder)
    assert again.embedded == 0, "registered documents are remembered and unchanged"


@pytest.mark.slow
def test_killing_an_ingest_mid_way_leaves_the_previous_store_answering(tmp_path: Path, embedder) -> None:
    knowledge = copy_knowledge(tmp_path)
    settings = make_settings(tmp_path / "data", knowledge_dir=knowledge)
    ingest(settings, embedder)
    before = len(open_index(settings, embedder.model_name, embedder.dimension).chunks)
    script = (
        "import sys, time\n"
        "from assistant.embeddings import load_embedder\n"
        "from ingest.pipeline import ingest\n"
        "from tests.conftest import make_settings\n"
        "from pathlib import Path\n"
        f"s = make_settings(Path({str(settings.data_dir)!r}), knowledge_dir=Path({str(knowledge)!r}))\n"
        "e = load_embedder(s)\n"
        "def slow(done, total):\n"
        "    print('progress', done, flush=True)\n"
        "    time.sleep(30)\n"
        "ingest(s, e, rebuild=True, progress=slow)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("progress"), "the rebuild started writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    index = open_index(settings, embedder.model_name, embedder.dimension)
    assert len(index.chunks) == before, "the old complete collection still answers"
    assert index.dense(index.vectors[0], 1)
    (settings.data_dir / "ingest.lock").unlink(missing_ok=True)
    after = ingest(settings, embedder)
    assert after.embedded == 0 and len(open_index(settings, embedder.model_name, embedder.dimension).chunks) == before


@pytest.mark.slow
def test_a_chroma_server_is_used_when_configured(tmp_path: Path, embedder) -> None:
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server"), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        settings = make_settings(
            tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port, knowledge_dir=copy_knowledge(tmp_path)
        )
        deadline = time.time() + 30
        while True:
            try:
                open_client(settings).heartbeat()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        summary = ingest(settings, embedder)
        assert summary.added > 30
        index = open_index(settings, embedder.model_name, embedder.dimension)
        assert len(index.chunks) == summary.added
        assert not (settings.data_dir / "chroma").exists(), "nothing was written to the embedded store"
    finally:
        server.terminate()
        server.wait(timeout=10)
