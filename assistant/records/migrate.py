"""Bring the records database to the schema this code expects (Alembic; the scripts live in `migrations/`).

`Records(url)` calls `upgrade` on open, and so do `physio-assistant migrate` and `serve`. A database
made before migrations existed (the tables, no `alembic_version`) is recognised and stamped at the
baseline, never recreated. Two processes migrating at once take turns: SQLite's write lock
(`BEGIN IMMEDIATE`), or a PostgreSQL advisory lock held for the migration's transaction.

>>> from assistant.records.engine import open_engine, parse
>>> upgrade(open_engine(parse("sqlite://"))).line()
'created the tables (revision 0001)'
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL

from assistant.records.engine import WRITE, parse, translated, where
from assistant.records.errors import RecordsError

SCRIPTS = "assistant.records:migrations"  # a package resource, so an installed package can migrate
BASELINE = "0001"
# The schema that `create_all` made before migrations existed (revision 0001), table -> columns:
# a database holding exactly these tables without a version is stamped at BASELINE.
BASELINE_TABLES: dict[str, frozenset[str]] = {
    "conversations": frozenset({"id", "client_id", "created_at", "updated_at"}),
    "turns": frozenset(
        {
            "id",
            "conversation_id",
            "created_at",
            "user_message",
            "answer",
            "level",
            "flags",
            "sources",
            "exercises",
            "refused",
            "latency_ms",
        }
    ),
    "feedback": frozenset({"id", "turn_id", "liked", "comment", "created_at"}),
    "reviews": frozenset({"id", "turn_id", "reviewer", "verdict", "corrected_answer", "created_at"}),
    "approved_answers": frozenset({"id", "question", "answer", "reviewer", "created_at", "active", "turn_id"}),
    "article_reviews": frozenset({"id", "article_id", "reviewer", "action", "status", "note", "created_at"}),
    "callbacks": frozenset(
        {"id", "name", "contact", "preferred_time", "note", "consent", "status", "created_at", "done_at"}
    ),
}
MIGRATION_WAIT_MS = 120_000  # how long a process waits for another's migration (SQLite)
LOCK_KEY = 0x706879736F  # "physio": the PostgreSQL advisory lock held while migrating
# Alembic's `context` and `op` are module-level proxies: one migration at a time in a process.
_IN_PROCESS = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    """What `upgrade` did: the revision before (None: no schema, or one from before migrations) and after."""

    before: str | None
    after: str
    adopted: bool = False  # tables from before migrations were stamped at BASELINE

    @property
    def changed(self) -> bool:
        return self.adopted or self.before != self.after

    def line(self) -> str:
        if not self.changed:
            return f"already up to date (revision {self.after})"
        if self.adopted:
            stamped = f"recognised the tables made before migrations and stamped them at revision {BASELINE}"
            return stamped if self.after == BASELINE else f"{stamped}, then migrated to revision {self.after}"
        if self.before is None:
            return f"created the tables (revision {self.after})"
        return f"migrated from revision {self.before} to {self.after}"


def config() -> Config:
    """Alembic's configuration for the packaged scripts (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPTS)
    cfg.set_main_option("path_separator", "os")
    return cfg


@functools.cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision this code knows."""
    revision = scripts().get_current_head()
    if revision is None:  # pragma: no cover - the package always ships its baseline
        raise RecordsError("No records migrations are installed; reinstall physio-assistant.")
    return revision


def current(connection: Connection) -> str | None:
    """The database's revision; None when it has no `alembic_version` table (empty, or from before migrations)."""
    return MigrationContext.configure(connection).get_current_revision()


def status(engine: Engine) -> str | None:
    """The revision the database behind `engine` is at (None: no schema, or one from before migrations)."""
    with translated(engine.url), engine.connect() as connection:
        return current(connection)


def upgrade(engine: Engine) -> Outcome:
    """Migrate the database behind `engine` to `head()`; cheap (one read) when it is already there.

    Raises `RecordsError` when the database cannot be reached, is at a revision this code does not
    know (a newer version migrated it), or holds some of the tables without a migration history.
    A SQLite file busy with another process's migration is tried again until MIGRATION_WAIT_MS has
    passed: its first read, its switch to WAL or its write lock can outlast the ordinary 5 s busy wait
    while the other migrates (seen on a loaded 2-core machine, one process in three failing "database
    is locked").
    """
    deadline = time.monotonic() + MIGRATION_WAIT_MS / 1000
    while True:
        try:
            return _upgrade(engine)
        except RecordsError as exc:
            if "database is locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.25)  # the other migration finishes; ours then finds it done, or takes its turn


def _upgrade(engine: Engine) -> Outcome:
    target = head()
    with translated(engine.url):
        with engine.connect() as connection:
            before = current(connection)
        _check_known(engine.url, before)
        if before == target:
            return Outcome(before, target)
        with _IN_PROCESS, locked(engine) as connection:
            before = current(connection)  # another process may have migrated while we waited
            _check_known(engine.url, before)
            adopted = before is None and _adopt(connection, engine.url)
            cfg = config()
            cfg.attributes["connection"] = connection
            try:
                command.upgrade(cfg, "head")
            except CommandError as exc:
                raise RecordsError(f"Cannot migrate the records database {where(engine.url)}: {exc}") from exc
            after = current(connection)
    if after is None:  # pragma: no cover - alembic always writes the version it reached
        raise RecordsError(f"Migrating the records database {where(engine.url)} left no version behind.")
    return Outcome(before, after, adopted)


@contextmanager
def locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other migrating process can share; committed on success."""
    with engine.execution_options(**{WRITE: True}).connect() as connection, connection.begin():
        # SQLite: WRITE makes the transaction BEGIN IMMEDIATE, which takes the database's write lock
        # (a wait past the busy timeout fails "database is locked", and `upgrade` tries again).
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield connection


def configured_url(url: str | None) -> URL:
    """`url`, else the app's own records database (PHYSIO_DATABASE_URL or SQLite under the data folder)."""
    if url:
        return parse(url)
    from assistant.settings import Settings

    return parse(Settings().records_url)


def _check_known(url: URL, revision: str | None) -> None:
    if revision is None:
        return
    try:
        scripts().get_revision(revision)
    except CommandError as exc:  # alembic's ResolutionError derives from it
        raise RecordsError(
            f"The records database {where(url)} is at revision {revision}, which this version of physio-assistant "
            "does not know: a newer version migrated it. Run that version (or a newer one)."
        ) from exc


def _adopt(connection: Connection, url: URL) -> bool:
    """Stamp a database made by `create_all` before migrations existed; False when it has none of our tables."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names()) & BASELINE_TABLES.keys()
    if not present:
        return False
    problems = [f"table {name} is missing" for name in sorted(BASELINE_TABLES.keys() - present)]
    for name in sorted(present):
        columns = {column["name"] for column in inspector.get_columns(name)}
        if missing := BASELINE_TABLES[name] - columns:
            problems.append(f"table {name} lacks {', '.join(sorted(missing))}")
    if problems:
        raise RecordsError(
            f"The records database {where(url)} has some of the records tables but no migration history, and "
            f"they do not match the schema from before migrations ({'; '.join(problems)}). Nothing was changed: "
            "point PHYSIO_DATABASE_URL at the right database, or move these tables away."
        )
    MigrationContext.configure(connection).stamp(scripts(), BASELINE)
    return True
