"""Records migrations (Alembic), on SQLite and on PostgreSQL with the same tests.

From empty, from a database made by `create_all` before migrations existed (tests/data, frozen),
twice, and by several processes at once. `new_db_url` (tests/conftest.py) makes empty databases.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, column, create_engine, inspect, table, text
from typer.testing import CliRunner

from assistant.records import Records, RecordsError
from assistant.records.engine import open_engine, parse
from assistant.records.migrate import BASELINE, BASELINE_TABLES, config, head, upgrade
from assistant.records.models import Base

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "assistant" / "records" / "migrations"
WHEN = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def schema(url: str) -> dict[str, Any]:
    """Everything the database says about its tables, in a form two databases can be compared by."""
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        tables: dict[str, Any] = {}
        for name in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
            tables[name] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                    for c in inspector.get_columns(name)
                ],
                "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
                "foreign keys": sorted(
                    (
                        tuple(fk["constrained_columns"]),
                        fk["referred_table"],
                        tuple(fk["referred_columns"]),
                        fk.get("options", {}).get("ondelete"),
                    )
                    for fk in inspector.get_foreign_keys(name)
                ),
                "indexes": sorted(
                    (ix["name"], tuple(ix["column_names"]), ix["unique"]) for ix in inspector.get_indexes(name)
                ),
                "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)),
            }
            if engine.dialect.name == "sqlite":  # SQLite keeps each table's CREATE statement: compare it too
                with engine.connect() as connection:
                    sql = connection.execute(
                        text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}
                    ).scalar_one()
                tables[name]["sql"] = " ".join(sql.split())
        return tables
    finally:
        engine.dispose()


def version(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def migrate(url: str) -> Any:
    engine = open_engine(parse(url))
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


def build_from_before_migrations(url: str) -> None:
    """A database exactly as `create_all` made it before migrations existed, with a little of everything in it."""
    engine = create_engine(url)
    sql = (ROOT / "tests" / "data" / f"records_before_migrations.{engine.dialect.name}.sql").read_text()
    statements = [s for s in re.sub(r"(?m)^--.*$", "", sql).split(";") if s.strip()]
    # naive UTC on SQLite, as the app stored it; aware on PostgreSQL
    when = WHEN.replace(tzinfo=None) if engine.dialect.name == "sqlite" else WHEN
    conversations = table(
        "conversations", column("id", String), column("created_at", DateTime), column("updated_at", DateTime)
    )
    turns = table(
        "turns",
        *(column(n, String) for n in ("conversation_id", "user_message", "answer", "level")),
        column("id", Integer),
        column("created_at", DateTime),
        column("refused", Boolean),
        column("latency_ms", Float),
        *(column(n, JSON) for n in ("flags", "sources", "exercises")),
    )
    feedback = table(
        "feedback",
        column("turn_id", Integer),
        column("liked", Boolean),
        column("comment", String),
        column("created_at", DateTime),
    )
    approved = table(
        "approved_answers",
        *(column(n, String) for n in ("question", "answer", "reviewer")),
        column("created_at", DateTime),
        column("active", Boolean),
        column("turn_id", Integer),
    )
    callbacks = table(
        "callbacks",
        *(column(n, String) for n in ("name", "contact", "preferred_time", "status")),
        column("consent", Boolean),
        column("created_at", DateTime),
    )
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
            connection.execute(conversations.insert().values(id="c-old", created_at=when, updated_at=when))
            turn_id = connection.execute(
                turns.insert()
                .returning(turns.c.id)
                .values(
                    conversation_id="c-old",
                    created_at=when,
                    user_message="my back hurts",
                    answer="Keep gently active.",
                    level="self_care",
                    flags=[],
                    sources=[{"id": "what-is-sciatica"}],
                    exercises=[],
                    refused=False,
                    latency_ms=12.5,
                )
            ).scalar_one()
            connection.execute(feedback.insert().values(turn_id=turn_id, liked=True, comment="thanks", created_at=when))
            connection.execute(
                approved.insert().values(
                    question="is walking ok?",
                    answer="Yes, keep walking.",
                    reviewer="physio",
                    created_at=when,
                    active=True,
                    turn_id=turn_id,
                )
            )
            connection.execute(
                callbacks.insert().values(
                    name="Sarah",
                    contact="07700 900123",
                    preferred_time="after 5pm",
                    status="open",
                    consent=True,
                    created_at=when,
                )
            )
    finally:
        engine.dispose()


def test_migrating_an_empty_database_builds_exactly_what_create_all_builds(new_db_url: Callable[[], str]) -> None:
    migrated, created = new_db_url(), new_db_url()
    outcome = migrate(migrated)
    assert (outcome.before, outcome.after, outcome.adopted) == (None, head(), False)
    assert outcome.line() == f"created the tables (revision {head()})"
    engine = create_engine(created)
    Base.metadata.create_all(engine)
    engine.dispose()
    assert schema(migrated) == schema(created)
    assert set(schema(migrated)) == set(Base.metadata.tables)
    engine = create_engine(migrated)
    try:
        with engine.connect() as connection:  # and alembic's own comparison finds nothing to do
            assert (
                compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
                == []
            )
    finally:
        engine.dispose()


def test_a_database_from_before_migrations_is_stamped_and_keeps_every_record(new_db_url: Callable[[], str]) -> None:
    old, fresh = new_db_url(), new_db_url()
    build_from_before_migrations(old)
    records = Records(old)
    try:
        assert (records.migration.before, records.migration.after, records.migration.adopted) == (None, head(), True)
        [turn] = records.list_turns()
        assert (turn["conversation_id"], turn["user_message"], turn["created"], turn["liked"], turn["comments"]) == (
            "c-old",
            "my back hurts",
            WHEN,
            1,
            ["thanks"],
        )
        assert turn["sources"] == [{"id": "what-is-sciatica"}]
        assert [(a["question"], a["created"]) for a in records.approved_answers()] == [("is walking ok?", WHEN)]
        assert [(c["name"], c["status"]) for c in records.list_callbacks()] == [("Sarah", "open")]
        records.log_turn("c-old", "and now?", {"answer": "Still fine.", "triage": {"level": "self_care"}})
        assert len(records.list_turns()) == 2
    finally:
        records.close()
    assert version(old) == [head()]
    migrate(fresh)
    assert schema(old) == schema(fresh)


def test_the_baseline_revision_is_the_schema_from_before_migrations(new_db_url: Callable[[], str]) -> None:
    """Revision 0001 alone builds what the frozen `create_all` output builds, and `BASELINE_TABLES` names it."""
    old, baseline = new_db_url(), new_db_url()
    build_from_before_migrations(old)
    engine = open_engine(parse(baseline))
    try:
        with engine.begin() as connection:
            cfg = config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, BASELINE)
    finally:
        engine.dispose()
    assert schema(old) == schema(baseline)
    assert {name: {c[0] for c in t["columns"]} for name, t in schema(baseline).items()} == BASELINE_TABLES


def test_migrating_twice_changes_nothing(new_db_url: Callable[[], str]) -> None:
    url = new_db_url()
    first = migrate(url)
    before = schema(url)
    second = migrate(url)
    assert first.changed and not second.changed
    assert (second.before, second.after, second.line()) == (head(), head(), f"already up to date (revision {head()})")
    assert schema(url) == before and version(url) == [head()]


def test_a_partial_schema_without_history_is_refused_and_left_alone(new_db_url: Callable[[], str]) -> None:
    url = new_db_url()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE conversations (id VARCHAR(200) PRIMARY KEY)")
    engine.dispose()
    with pytest.raises(RecordsError, match=r"no migration history.*table callbacks is missing.*conversations lacks"):
        Records(url)
    assert list(schema(url)) == ["conversations"]
    assert "alembic_version" not in inspect(create_engine(url)).get_table_names()


def test_a_database_migrated_by_a_newer_version_is_refused(new_db_url: Callable[[], str]) -> None:
    url = new_db_url()
    migrate(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(RecordsError, match="revision 9999, which this version of physio-assistant does not know"):
        Records(url)
    assert version(url) == ["9999"]


WORKER = """
import sys, time
from pathlib import Path
from assistant.records.engine import open_engine, parse
from assistant.records.migrate import upgrade
go = Path(sys.argv[2])
Path(sys.argv[3]).touch()
while not go.exists():
    time.sleep(0.01)
print(upgrade(open_engine(parse(sys.argv[1]))).line())
"""


@pytest.mark.slow
@pytest.mark.parametrize("start", ["empty", "before migrations"])
def test_processes_migrating_at_once_take_turns(new_db_url: Callable[[], str], tmp_path: Path, start: str) -> None:
    url, reference = new_db_url(), new_db_url()
    if start != "empty":
        build_from_before_migrations(url)
    go, ready = tmp_path / "go", [tmp_path / f"ready-{n}" for n in range(3)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(go), str(r)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in ready
    ]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # all imported: now they race
    results = [worker.communicate(timeout=120) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], [err for _, err in results]
    lines = sorted(out.strip() for out, _ in results)
    did = "created the tables" if start == "empty" else "recognised the tables made before migrations"
    assert sum(line.startswith(did) for line in lines) == 1, lines
    assert lines.count(f"already up to date (revision {head()})") == 2, lines
    migrate(reference)
    assert version(url) == [head()] and schema(url) == schema(reference)


def test_the_migrate_command_migrates_and_says_what_it_did(tmp_path: Path) -> None:
    from assistant.cli import app

    env = {"PHYSIO_DATA_DIR": str(tmp_path / "data"), "PHYSIO_DATABASE_URL": ""}
    runner = CliRunner()
    check = runner.invoke(app, ["migrate", "--check"], env=env)
    assert check.exit_code == 1 and "not migrated" in check.output, check.output
    first = runner.invoke(app, ["migrate"], env=env)
    assert first.exit_code == 0 and f"created the tables (revision {head()})" in first.output, first.output
    second = runner.invoke(app, ["migrate"], env=env)
    assert second.exit_code == 0 and "already up to date" in second.output, second.output
    check = runner.invoke(app, ["migrate", "--check"], env=env)
    assert check.exit_code == 0 and f"at revision {head()}" in check.output, check.output
    assert version(f"sqlite:///{tmp_path / 'data' / 'records.sqlite3'}") == [head()]


def test_the_server_migrates_the_records_database_when_it_connects(tmp_path: Path) -> None:
    """`serve` opens the records through `ReconnectingRecords`, which migrates (or stamps) on connecting."""
    from assistant.records.lazy import ReconnectingRecords

    url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    build_from_before_migrations(url)
    records = ReconnectingRecords(url)
    assert records.connected and records.migration.adopted
    assert version(url) == [head()]


def test_the_migration_scripts_ship_in_the_package() -> None:
    """`pip install .` (not only an editable checkout) must carry every migration file."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = {
        path
        for pattern in project["tool"]["setuptools"]["package-data"]["assistant"]
        for path in (ROOT / "assistant").glob(pattern)
    }
    files = {path for path in MIGRATIONS.rglob("*") if path.is_file() and "__pycache__" not in path.parts}
    assert MIGRATIONS / "env.py" in files and MIGRATIONS / "versions" / "0001_baseline.py" in files
    assert sorted(str(path) for path in files - shipped) == []
