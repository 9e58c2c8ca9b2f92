"""Runtime: everything a service needs (settings, database, clock, channels), passed explicitly.

There are no I/O globals: the web app, the worker, the CLI and the tests each build a
Runtime and hand it down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mannerly.channels.ratelimit import LocalRateLimiter, RedisRateLimiter, make_rate_limiter
from mannerly.channels.registry import ChannelRegistry
from mannerly.channels.simulator.adapter import SimulatorCarrier
from mannerly.config import Settings
from mannerly.db import make_engine, make_sessionmaker, upgrade_database
from mannerly.inbound.targets import WebhookTargets
from mannerly.inbound.writer import WebhookWriter

HTTP_TIMEOUT_SECONDS = 15.0


def system_clock() -> datetime:
    """The wall clock, in UTC, timezone-aware."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests, demos and dry runs at a chosen moment."""

    def __init__(self, start: datetime) -> None:
        """Start at an aware datetime (kept in UTC)."""
        self._now = _aware_utc(start)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The current (manual) time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by a timedelta or by timedelta keyword parts (minutes=5); returns the new time."""
        step = (delta or timedelta()) + timedelta(**parts)
        if step < timedelta():
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._now += step
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to a moment (forwards or backwards; tests need both)."""
        with self._lock:
            self._now = _aware_utc(moment)


def _aware_utc(moment: datetime) -> datetime:
    """An aware datetime converted to UTC; naive ones are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the clock needs a timezone-aware datetime")
    return moment.astimezone(UTC)


@dataclass
class Runtime:
    """Settings, database, clock, HTTP client and channel adapters of one running Mannerly."""

    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    clock: Callable[[], datetime]
    channels: ChannelRegistry
    simulator: SimulatorCarrier
    http: httpx.Client
    rate_limiter: LocalRateLimiter | RedisRateLimiter
    # What the queue mode's webhook fast path knows of each channel, re-read every few seconds.
    webhook_targets: WebhookTargets = field(default_factory=WebhookTargets)
    # Stores the queue mode's webhook events in shared transactions (started on first use).
    webhook_writer: WebhookWriter | None = None

    def __post_init__(self) -> None:
        """Bind the webhook writer to this runtime's database."""
        if self.webhook_writer is None:
            self.webhook_writer = WebhookWriter(self.engine)

    @classmethod
    def create(
        cls,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        http: httpx.Client | None = None,
        channels: ChannelRegistry | None = None,
        migrate: bool = False,
    ) -> Runtime:
        """Build a runtime from settings (default: from the environment); optionally migrate the database first."""
        settings = settings or Settings()
        clock = clock or system_clock
        if migrate:
            upgrade_database(settings.database_url)
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            clock=clock,
            channels=channels or ChannelRegistry(),
            simulator=SimulatorCarrier.from_settings(settings, clock),
            rate_limiter=make_rate_limiter(settings.redis_url),
            http=http or httpx.Client(timeout=HTTP_TIMEOUT_SECONDS),
        )

    def now(self) -> datetime:
        """The current time according to this runtime's clock."""
        return self.clock()

    def session(self) -> Session:
        """A new database session (use as a context manager; commit at the boundary)."""
        return self.sessionmaker()

    def close(self) -> None:
        """Release adapters, the HTTP client and database connections."""
        self.webhook_writer.close()
        self.channels.close()
        self.http.close()
        self.engine.dispose()
