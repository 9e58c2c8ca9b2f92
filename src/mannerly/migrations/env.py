"""Alembic environment: configured from code (mannerly.db.alembic_config), no alembic.ini needed."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

import mannerly.models  # noqa: F401  (registers every table on Base.metadata)
from mannerly.db import make_engine
from mannerly.models.base import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata
# Any fixed number: PostgreSQL advisory lock taken while migrating.
MIGRATION_LOCK_ID = 0x6D616E6E


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render Mannerly's UTCDateTime as a plain timezone-aware DateTime so migrations stay frozen."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    """Point Alembic at a live connection with the options Mannerly needs."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )


def _run_locked(connection: Connection) -> None:
    """Run the migrations in one transaction, serialized across processes on PostgreSQL."""
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several `mannerly serve` processes may start together; the others wait here
            # and then find the database already at head.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the migration SQL instead of running it (`alembic upgrade --sql`)."""
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=str(url).startswith("sqlite"),
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, engine or URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        _run_locked(connection)
        return
    engine = config.attributes.get("engine")
    owns_engine = engine is None
    if engine is None:
        url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
        engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
            _run_locked(connection)
            connection.commit()
    finally:
        if owns_engine:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
