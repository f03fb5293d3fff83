"""Alembic's environment for the records database (`assistant/records/models.py` is the target).

The app migrates through `assistant.records.migrate.upgrade`, which hands over its own connection,
already inside a locked transaction. Run by the `alembic` command line (to write a new revision,
see README.md beside this file), it opens PHYSIO_DATABASE_URL the way the app does, and takes the
same lock.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from assistant.records.models import Base

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite alters a table by copying it; batch mode writes those steps for us
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # `alembic upgrade --sql`: print the DDL for a DBA to run
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    run(given)
else:
    from assistant.records.engine import open_engine
    from assistant.records.migrate import configured_url, locked

    engine = open_engine(configured_url(config.get_main_option("sqlalchemy.url")))
    try:
        with locked(engine) as connection:
            run(connection)
    finally:
        engine.dispose()
