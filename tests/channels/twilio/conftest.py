"""Fixtures for the Twilio channel tests: loopback-only networking, the fake Twilio server, the testdata folder."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mannerly.channels.twilio.fake_server import FakeTwilio

TESTDATA = Path(__file__).resolve().parents[3] / "src" / "mannerly" / "channels" / "twilio" / "testdata"
LOOPBACK_NAMES = {"localhost", "testserver"}


def _is_loopback(host: object) -> bool:
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
    """Make any connection or name lookup outside 127.0.0.1 fail the test (no real Twilio, ever)."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: object) -> None:
        """Refuse non-loopback peers."""
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(host):
            raise AssertionError(f"test tried to reach {address!r}: only 127.0.0.1 is allowed")
        return real_connect(sock, address)

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        """Refuse DNS lookups of outside names."""
        if host is not None and not _is_loopback(host):
            raise AssertionError(f"test tried to resolve {host!r}: only 127.0.0.1 is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A fake Twilio API on a free 127.0.0.1 port, stopped after the test."""
    with FakeTwilio(account_sid="AC" + "1b7c6e4a9f3d2c8b5a0e7f6d4c3b2a19", slow_seconds=1.0) as fake:
        yield fake


def read_testdata(name: str) -> bytes:
    """A recorded payload, as the raw bytes Twilio would send (trailing newline of the file removed)."""
    return (TESTDATA / name).read_bytes().rstrip(b"\n")
