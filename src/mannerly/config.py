"""The one place Mannerly reads its configuration: `MANNERLY_*` environment variables.

Nothing else in the code base reads the environment (except PROMETHEUS_MULTIPROC_DIR,
which belongs to the prometheus_client library; see observability.py). Per-channel credentials are
not settings: they live on the channel record (`channels.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR_NAME = ".mannerly"
DATABASE_FILE_NAME = "mannerly.db"


def default_database_url() -> str:
    """The embedded default: a SQLite file `.mannerly/mannerly.db` under the current directory."""
    return f"sqlite:///{Path.cwd() / DATA_DIR_NAME / DATABASE_FILE_NAME}"


class Settings(BaseSettings):
    """Every setting Mannerly has, typed and with its default; see docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="MANNERLY_", extra="ignore", frozen=True)

    # SQLAlchemy URL. SQLite (default) or PostgreSQL ("postgresql://" is rewritten to psycopg 3).
    database_url: str = Field(default_factory=default_database_url)
    # Where `mannerly serve` listens.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The address customers and providers reach this server at (webhooks, preference links).
    public_base_url: str | None = None
    # Run the dispatcher/scheduler inside the web process (embedded default).
    run_worker_in_process: bool = True
    # How often the dispatcher looks for due messages, and how many it claims at once.
    dispatch_interval_seconds: float = Field(default=0.5, gt=0)
    dispatch_batch_size: int = Field(default=100, ge=1)
    # While a backlog lasts and each batch takes under a second, the next claim doubles, up to this many
    # (fewer statements per message); a slow batch halves it, a batch that is not full resets it.
    # Set it to dispatch_batch_size to keep batches fixed.
    dispatch_batch_max: int = Field(default=500, ge=1)
    # How long a worker owns a claimed message before another worker may recover it.
    lease_seconds: int = Field(default=60, ge=1)
    # A hand-off whose answer was lost is sent again only if the provider's message list, searched this
    # long after the hand-off began (when no request can still be on its way), does not have it.
    handoff_search_after_seconds: int = Field(default=120, ge=1)
    # The built-in simulator carrier: delivery-receipt delay, share of failed deliveries, RNG seed.
    simulator_latency_ms: int = Field(default=300, ge=0)
    simulator_failure_rate: float = Field(default=0.02, ge=0.0, le=1.0)
    simulator_seed: int | None = None
    # "inline" applies each webhook event inside the request; "queue" stores the verified event and
    # answers at once, and the worker applies it (see docs/deploy.md). STOP-like keywords and
    # provider opt-out errors are applied inside the request in both modes.
    webhook_mode: Literal["inline", "queue"] = "inline"
    # Plan a campaign with 20,000 or more recipients left in one worker pass, with a second process deciding
    # while this one writes (needs 2 or more cores; see docs/campaigns.md). Off: a batch per pass, one process.
    campaign_parallel_planning: bool = True
    # Python logging level name.
    log_level: str = "INFO"
    # "text" for people, "json" for log collectors: one object per line, phone numbers masked.
    log_format: Literal["text", "json"] = "text"
    # Optional Redis for shared rate limits and live updates across processes.
    redis_url: str | None = None
    # Signs web UI session cookies; when unset, a random key is generated once and kept in .mannerly/secret-key.
    secret_key: str | None = None

    @field_validator("log_level")
    @classmethod
    def _normalize_log_level(cls, value: str) -> str:
        """Accept any case and store the level name upper-cased."""
        level = value.strip().upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        """Store the base URL without a trailing slash so paths can be appended."""
        return value.rstrip("/") if value else None

    @property
    def uses_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")
