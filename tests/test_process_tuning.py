"""Garbage-collector settings of long-running processes (mannerly.kit.process)."""

from __future__ import annotations

import gc

from typer.testing import CliRunner

from mannerly import cli
from mannerly.kit.process import YOUNG_GENERATION_THRESHOLD, tune_garbage_collection

from .test_cli import database, invoke  # noqa: F401  (the CLI's database fixture)


def test_tuning_raises_the_young_threshold_and_freezes_what_exists():
    """The youngest generation waits for 50,000 objects; the objects of start-up are frozen; older thresholds stay."""
    before = gc.get_threshold()
    try:
        tune_garbage_collection()
        youngest, middle, oldest = gc.get_threshold()
        assert youngest == max(YOUNG_GENERATION_THRESHOLD, before[0]) and (middle, oldest) == before[1:]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_worker_tunes_its_process_before_its_first_pass(database, monkeypatch):
    """`mannerly worker` calls tune_garbage_collection once it has built its runtime and dispatcher."""
    calls = []
    monkeypatch.setattr(cli, "tune_garbage_collection", lambda: calls.append("tuned"))
    invoke(CliRunner(), "worker", "--once")
    assert calls == ["tuned"]
