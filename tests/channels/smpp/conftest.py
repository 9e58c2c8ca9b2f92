"""Fixtures for SMPP tests: an SMSC simulator on a free loopback port and adapters bound to it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from mannerly.channels.smpp.adapter import SmppAdapter, SmppChannelSettings
from mannerly.channels.smpp.smsc_sim import SimSettings, SmscSimulator

SYSTEM_ID = "acme"
PASSWORD = "secret"
FIXED_NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
# Short timeouts so failure paths finish quickly; every socket is on 127.0.0.1.
FAST_CONFIG = {
    "system_id": SYSTEM_ID, "password": PASSWORD, "response_timeout": 2.0, "connect_timeout": 2.0,
    "reconnect_min": 0.05, "reconnect_max": 0.2, "throttle_backoff_min": 0.05, "throttle_backoff_max": 0.4,
    "throttle_wait_max": 0.0,
}


def wait_for(predicate: Callable[[], object], timeout: float = 3.0, interval: float = 0.01) -> object:
    """Poll until predicate() is truthy and return its value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture
def smsc() -> Iterator[Callable[..., SmscSimulator]]:
    """Start SMSC simulators (OS-assigned port on 127.0.0.1); all stopped at the end."""
    started: list[SmscSimulator] = []

    def start(**overrides: object) -> SmscSimulator:
        """A running simulator with these SimSettings overrides."""
        values = {"host": "127.0.0.1", "port": 0, "system_id": SYSTEM_ID, "password": PASSWORD,
                  "receipt_delay_ms": 10, "seed": 7, **overrides}
        simulator = SmscSimulator(SimSettings(**values))
        simulator.start_in_thread()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop_in_thread()


@pytest.fixture
def adapter_for() -> Iterator[Callable[..., SmppAdapter]]:
    """Build SMPP adapters bound to a simulator; all closed at the end."""
    built: list[SmppAdapter] = []

    def build(simulator: SmscSimulator, *, sender_id: str = "ACME", wait: bool = True, **config: object) -> SmppAdapter:
        """An adapter for the simulator's address with FAST_CONFIG plus overrides."""
        host, port = simulator.address
        settings = SmppChannelSettings.from_config({"host": host, "port": port, **FAST_CONFIG, **config})
        adapter = SmppAdapter(settings, sender_id=sender_id, clock=lambda: FIXED_NOW)
        built.append(adapter)
        if wait:
            assert adapter.client.wait_bound(3), adapter.client.last_error
        return adapter

    yield build
    for adapter in built:
        adapter.close()
