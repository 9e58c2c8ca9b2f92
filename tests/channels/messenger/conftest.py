"""Fixtures for the Messenger channel tests: no outside network, a fake Graph API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mannerly.channels.messenger.fake_server import FakeGraphApi

TESTDATA = Path(__file__).resolve().parents[3] / "src" / "mannerly" / "channels" / "messenger" / "testdata"


def load(name: str) -> Any:
    """A recorded payload from the adapter's testdata/ folder."""
    return json.loads((TESTDATA / name).read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    """A recorded payload's exact bytes."""
    return (TESTDATA / name).read_bytes()


@pytest.fixture
def fake(clock) -> Iterator[FakeGraphApi]:
    """A fake Graph API on 127.0.0.1 that keeps Messenger's windows by the test clock."""
    with FakeGraphApi(clock=clock, slow_seconds=0.6) as server:
        yield server
