"""Settings come from MANNERLY_* variables, with documented defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mannerly.config import Settings

DEFAULTS = [
    ("host", "127.0.0.1"),
    ("port", 8000),
    ("public_base_url", None),
    ("run_worker_in_process", True),
    ("dispatch_interval_seconds", 0.5),
    ("dispatch_batch_size", 100),
    ("lease_seconds", 60),
    ("simulator_latency_ms", 300),
    ("simulator_failure_rate", 0.02),
    ("simulator_seed", None),
    ("log_level", "INFO"),
    ("redis_url", None),
]


@pytest.mark.parametrize(("name", "value"), DEFAULTS)
def test_defaults(name: str, value: object) -> None:
    assert getattr(Settings(), name) == value


def test_default_database_is_a_sqlite_file_under_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / '.mannerly' / 'mannerly.db'}"
    assert settings.uses_sqlite


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANNERLY_PORT", "9001")
    monkeypatch.setenv("MANNERLY_DATABASE_URL", "postgresql://mannerly@db/mannerly")
    monkeypatch.setenv("MANNERLY_RUN_WORKER_IN_PROCESS", "false")
    monkeypatch.setenv("MANNERLY_SIMULATOR_SEED", "42")
    monkeypatch.setenv("MANNERLY_LOG_LEVEL", "debug")
    monkeypatch.setenv("MANNERLY_PUBLIC_BASE_URL", "https://sms.example.com/")
    settings = Settings()
    assert settings.port == 9001
    assert settings.database_url == "postgresql://mannerly@db/mannerly" and not settings.uses_sqlite
    assert settings.run_worker_in_process is False
    assert settings.simulator_seed == 42
    assert settings.log_level == "DEBUG"
    assert settings.public_base_url == "https://sms.example.com"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MANNERLY_PORT", "0"), ("MANNERLY_SIMULATOR_FAILURE_RATE", "1.5"), ("MANNERLY_LOG_LEVEL", "LOUD")],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()
