"""Shared real fixtures: the bundled model, a real Chroma store and the assistant, built once per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "PHYSIO_MODEL_CACHE_DIR" not in os.environ:
    # one ONNX export for the whole run (tests and the servers and commands they start), made on
    # first use exactly as a new install makes it; tests of the export itself use their own folders
    _models = tempfile.mkdtemp(prefix="physio-test-models-")
    os.environ["PHYSIO_MODEL_CACHE_DIR"] = _models
    atexit.register(shutil.rmtree, _models, True)

from assistant.embeddings import Embedder, load_embedder  # noqa: E402
from assistant.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"


MODEL_FIXTURES = {"embedder", "built_settings", "assistant"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that load the model through a shared fixture are marked `model`, so `make test-fast` can leave them out."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


def make_settings(data_dir: Path, **extra: object) -> Settings:
    """Settings for a test: its own data folder, the repo's knowledge base, nothing from the environment."""
    return Settings(_env_file=None, data_dir=data_dir, knowledge_dir=extra.pop("knowledge_dir", KNOWLEDGE), **extra)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2 from the bundled package, loaded once (served through ONNX Runtime)."""
    return load_embedder(Settings(_env_file=None))  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def built_settings(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """A data folder with the real knowledge base ingested into a real embedded Chroma store."""
    from ingest.pipeline import ingest

    settings = make_settings(tmp_path_factory.mktemp("data"))
    ingest(settings, embedder)
    return settings


@pytest.fixture(scope="session")
def assistant(built_settings: Settings, embedder: Embedder):  # type: ignore[no-untyped-def]
    from assistant.conversation import Assistant

    return Assistant.load(built_settings)


@pytest.fixture()
def fresh_settings(tmp_path: Path) -> Iterator[Settings]:
    yield make_settings(tmp_path / "data")


# --- the records database, on both backends ----------------------------------------------------

PG_ENV = "PHYSIO_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def new_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty records databases on one backend: SQLite files, or PostgreSQL schemas dropped afterwards.

    PostgreSQL comes from PHYSIO_TEST_POSTGRES_URL (`bash scripts/start-postgres.sh` prints one).
    Without the variable those tests skip, except under CI, where they fail.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    made: list[str] = []
    if request.param == "sqlite":

        def sqlite_url() -> str:
            made.append(f"sqlite:///{tmp_path / f'records-{len(made)}.sqlite3'}")
            return made[-1]

        yield sqlite_url
        return
    base = os.environ.get(PG_ENV)
    if not base:
        how = f"{PG_ENV} is unset; run `{PG_ENV}=$(bash scripts/start-postgres.sh) pytest` to test PostgreSQL"
        if os.environ.get("CI"):
            pytest.fail(f"CI must test PostgreSQL too: {how}")
        pytest.skip(how)
    admin = create_engine(base)

    def postgres_url() -> str:
        schema = f"test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    try:
        yield postgres_url
    finally:
        with admin.begin() as connection:
            for schema in made:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db_url(new_db_url: Callable[[], str]) -> str:
    """An empty records database: a SQLite file, or a PostgreSQL schema of its own (both backends run)."""
    return new_db_url()
