"""Fixtures for the Twilio channel tests: the fake Twilio server and the testdata folder (tests/conftest.py keeps them on the loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mannerly.channels.twilio.fake_server import FakeTwilio

TESTDATA = Path(__file__).resolve().parents[3] / "src" / "mannerly" / "channels" / "twilio" / "testdata"
@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A fake Twilio API on a free 127.0.0.1 port, stopped after the test."""
    with FakeTwilio(account_sid="AC" + "1b7c6e4a9f3d2c8b5a0e7f6d4c3b2a19", slow_seconds=1.0) as fake:
        yield fake


def read_testdata(name: str) -> bytes:
    """A recorded payload, as the raw bytes Twilio would send (trailing newline of the file removed)."""
    return (TESTDATA / name).read_bytes().rstrip(b"\n")
