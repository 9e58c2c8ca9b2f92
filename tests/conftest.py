"""Shared fixtures: a migrated SQLite runtime with a manual clock, and an isolated PostgreSQL schema."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from mannerly.config import Settings
from mannerly.db import upgrade_database
from mannerly.runtime import ManualClock, Runtime

# Monday 3 March 2025, 01:00 UTC: 10:00 in Seoul, 08:00 in Jakarta, 03:00 in Athens.
DEFAULT_START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
POSTGRES_SERVER_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://127.0.0.1:5432/test",  # the current OS user
)
POSTGRES_UNREACHABLE = "PostgreSQL not reachable at 127.0.0.1:5432"


# Names tests use for in-process servers (Starlette's TestClient calls its host "testserver").
LOOPBACK_NAMES = {"localhost", "testserver"}


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1 and the names tests use for in-process servers."""
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection or name lookup outside the loopback fails the test: no real provider, ever."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: object) -> object:
        """Refuse non-loopback peers."""
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(host):
            raise AssertionError(f"test tried to reach {address!r}: only the loopback is allowed")
        return real_connect(sock, address)

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        """Refuse DNS lookups of outside names."""
        if host is not None and not is_loopback(host):
            raise AssertionError(f"test tried to resolve {host!r}: only the loopback is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def _no_mannerly_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's MANNERLY_* variables out of every test."""
    for name in list(os.environ):
        if name.startswith("MANNERLY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing still at DEFAULT_START until a test advances it."""
    return ManualClock(DEFAULT_START)


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test session; tests get copies, which is faster than migrating each time."""
    path = tmp_path_factory.mktemp("template") / "mannerly.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, _migrated_sqlite_template: Path) -> Settings:
    """Settings for a fresh, migrated SQLite file in tmp_path; simulator seeded and never failing."""
    database = tmp_path / "mannerly.db"
    shutil.copyfile(_migrated_sqlite_template, database)
    return Settings(
        database_url=f"sqlite:///{database}",
        simulator_seed=1234,
        simulator_failure_rate=0.0,
        simulator_latency_ms=300,
    )


@pytest.fixture
def runtime(settings: Settings, clock: ManualClock) -> Iterator[Runtime]:
    """A Runtime on a fresh migrated SQLite database, with `clock` (a ManualClock) as its clock."""
    built = Runtime.create(settings, clock=clock)
    try:
        yield built
    finally:
        built.close()


def _connect_postgres() -> psycopg.Connection | None:
    """A connection to the test PostgreSQL server, or None when it does not answer."""
    for url in POSTGRES_SERVER_URLS:
        try:
            return psycopg.connect(url, connect_timeout=3, autocommit=True)
        except psycopg.OperationalError:
            continue
    return None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL to a new, empty PostgreSQL schema, dropped afterwards.

    Skips when the server is not reachable, except on CI (CI=true) where that fails the test.
    """
    connection = _connect_postgres()
    if connection is None:
        if os.environ.get("CI") == "true":
            pytest.fail(POSTGRES_UNREACHABLE)
        pytest.skip(POSTGRES_UNREACHABLE)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    info = connection.info
    user = info.user
    try:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        yield (
            f"postgresql+psycopg://{user}@{info.host}:{info.port}/{info.dbname}"
            f"?options=-csearch_path%3D{schema}"
        )
    finally:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.close()


def start_cli_worker(database_url: str) -> subprocess.Popen:
    """`mannerly worker` as a child process on this database, passes every 0.1 s; output captured as text."""
    env = {**os.environ, "MANNERLY_DATABASE_URL": database_url, "MANNERLY_DISPATCH_INTERVAL_SECONDS": "0.1"}
    return subprocess.Popen([sys.executable, "-c", "from mannerly.cli import app; app()", "worker"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def stop_cli_worker(process: subprocess.Popen, timeout: float = 20) -> tuple[str, str]:
    """Ask a worker to stop with SIGTERM and wait for it (killed if it will not); its remaining (stdout, stderr)."""
    try:
        process.send_signal(signal.SIGTERM)
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
