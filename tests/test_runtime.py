"""Runtime wiring and the manual clock the tests rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from mannerly.config import Settings
from mannerly.db import current_revision, head_revision
from mannerly.models import Workspace
from mannerly.runtime import ManualClock, Runtime, system_clock


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2025, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))))
    assert clock() == datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    assert clock().tzinfo is UTC
    assert clock.advance(minutes=90) == datetime(2025, 1, 1, 1, 30, tzinfo=UTC)
    assert clock.advance(timedelta(days=1), hours=1) == datetime(2025, 1, 2, 2, 30, tzinfo=UTC)
    clock.set(datetime(2024, 12, 31, tzinfo=UTC))
    assert clock() == datetime(2024, 12, 31, tzinfo=UTC)


def test_manual_clock_refuses_naive_times_and_negative_steps() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        ManualClock(datetime(2025, 1, 1, tzinfo=UTC)).advance(seconds=-1)


def test_system_clock_is_aware_utc() -> None:
    assert system_clock().tzinfo is UTC


def test_runtime_fixture_is_migrated_and_uses_the_manual_clock(runtime: Runtime, clock: ManualClock) -> None:
    assert current_revision(runtime.engine) == head_revision()
    assert runtime.now() == clock()
    clock.advance(hours=1)
    assert runtime.now() == clock()
    with runtime.session() as session:
        session.add(Workspace(name="Athens Florist", created_at=runtime.now()))
        session.commit()
    with runtime.session() as session:
        assert session.scalars(select(Workspace.name)).all() == ["Athens Florist"]


def test_simulator_follows_the_runtime_settings_and_clock(runtime: Runtime, clock: ManualClock) -> None:
    assert runtime.simulator.latency_ms == runtime.settings.simulator_latency_ms
    assert runtime.simulator.clock is clock


def test_create_can_migrate_a_new_database(tmp_path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'new' / 'm.db'}")
    built = Runtime.create(settings, migrate=True)
    try:
        assert current_revision(built.engine) == head_revision()
    finally:
        built.close()
