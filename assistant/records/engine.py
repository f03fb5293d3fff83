"""Opening the records database: one engine, set up so SQLite and PostgreSQL behave alike under threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from assistant.private_files import private_file
from assistant.records.errors import RecordsError

WRITE = "physio_write"  # execution option: this transaction will write
HINT = "Check PHYSIO_DATABASE_URL (and that the database server is running and accepts this user)."


def parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise RecordsError(f"{url!r} is not a database URL. {HINT}") from exc


def where(url: URL) -> str:
    """The URL as it may be shown to a person: never the password."""
    return url.render_as_string(hide_password=True)


BUSY_TIMEOUT_MS = 5000  # how long an ordinary SQLite write waits for another writer


def open_engine(url: URL) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout, foreign keys and write locks taken up front."""
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite(url)
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = 10  # an unreachable host fails in seconds, not minutes
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        extra = (
            " (the PostgreSQL driver is an extra: pip install 'physio-assistant[postgres]')"
            if url.get_backend_name() == "postgresql"
            else ""
        )
        raise RecordsError(f"Cannot use the records database {where(url)}: {exc}{extra}. {HINT}") from exc


def _sqlite(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory:
        database = Path(url.database or "").expanduser()
        try:
            # health data: the file is for this user only (SQLite gives its -wal and -shm files the same mode)
            private_file(database)
            for extra in ("-wal", "-shm", "-journal"):
                sibling = database.with_name(database.name + extra)
                if sibling.exists():
                    private_file(sibling)
        except OSError as exc:
            raise RecordsError(f"Cannot create the records database {database}: {exc}. {HINT}") from exc
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 5},
        # one shared connection, or every thread would see its own empty in-memory database
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once ("database is locked")
        # when another writer got in between; IMMEDIATE takes the write lock first, so writers
        # queue on busy_timeout instead.
        immediate = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def translated(url: URL) -> Iterator[None]:
    """Database failures as `RecordsError` with what to check; other errors pass through."""
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise RecordsError(f"The records database {where(url)} cannot be used: {reason}. {HINT}") from exc
