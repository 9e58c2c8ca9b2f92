"""Fixtures for the Messenger channel tests: no outside network, a fake Graph API on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mannerly.channels.messenger.fake_server import FakeGraphApi

TESTDATA = Path(__file__).resolve().parents[3] / "src" / "mannerly" / "channels" / "messenger" / "testdata"
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def load(name: str) -> Any:
    """A recorded payload from the adapter's testdata/ folder."""
    return json.loads((TESTDATA / name).read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    """A recorded payload's exact bytes."""
    return (TESTDATA / name).read_bytes()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any connection to a host other than 127.0.0.1 fail the test."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        """Allow loopback and Unix sockets only."""
        if isinstance(address, tuple) and address[0] not in LOOPBACK_HOSTS:
            raise AssertionError(f"a test tried to reach {address!r}: only 127.0.0.1 is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture
def fake(clock) -> Iterator[FakeGraphApi]:
    """A fake Graph API on 127.0.0.1 that keeps Messenger's windows by the test clock."""
    with FakeGraphApi(clock=clock, slow_seconds=0.6) as server:
        yield server
