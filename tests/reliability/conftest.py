"""Fixtures for the reliability tests: the API fixture of tests/api, and settings on a migrated PostgreSQL schema."""

from __future__ import annotations

import pytest

from mannerly.config import Settings
from mannerly.db import upgrade_database
from tests.api.conftest import api  # noqa: F401 - a fixture, used by name


@pytest.fixture
def postgres_settings(postgres_url: str) -> Settings:
    """Settings on a fresh, migrated PostgreSQL schema (skips when the server is absent, fails under CI=true)."""
    upgrade_database(postgres_url)
    return Settings(database_url=postgres_url, simulator_seed=1, simulator_failure_rate=0.0)
