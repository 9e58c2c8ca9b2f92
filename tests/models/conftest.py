"""Model tests run on SQLite and, when the server answers, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from mannerly.db import make_engine, make_sessionmaker, upgrade_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'models.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade_database(url)
    return url


@pytest.fixture
def new_session(database_url: str) -> Iterator:
    """A factory of sessions on the migrated database."""
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    try:
        yield factory
    finally:
        engine.dispose()


@pytest.fixture
def session(new_session) -> Iterator[Session]:
    """One session on the migrated database, rolled back at the end."""
    with new_session() as opened:
        yield opened
        opened.rollback()
