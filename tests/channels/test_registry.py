"""The registry builds one adapter per channel and rebuilds it when the channel changes."""

from __future__ import annotations

import pytest

from mannerly.channels.registry import ChannelRegistry, UnknownProviderError, adapter_for
from mannerly.channels.simulator.adapter import SimulatorAdapter
from mannerly.models import Channel
from mannerly.runtime import Runtime


def simulator_channel(channel_id: int = 1, **fields) -> Channel:
    """A simulator channel row (not saved; the registry only reads it)."""
    values = dict(id=channel_id, workspace_id=1, kind="sms", provider="simulator", name="Sim",
                  sender_id="+15550100", config={})
    values.update(fields)
    return Channel(**values)


def test_simulator_channels_get_a_simulator_adapter_on_the_shared_carrier(runtime: Runtime) -> None:
    sms = adapter_for(simulator_channel(1), runtime)
    whatsapp = adapter_for(simulator_channel(2, kind="whatsapp"), runtime)
    assert isinstance(sms, SimulatorAdapter) and isinstance(whatsapp, SimulatorAdapter)
    assert (sms.kind, sms.channel_id, sms.sender_id) == ("sms", 1, "+15550100")
    assert whatsapp.kind == "whatsapp"
    assert sms.carrier is whatsapp.carrier is runtime.simulator


def test_adapters_are_reused_until_the_channel_changes(runtime: Runtime) -> None:
    channel = simulator_channel()
    first = adapter_for(channel, runtime)
    assert adapter_for(channel, runtime) is first
    channel.config = {"latency_ms": 5}
    assert adapter_for(channel, runtime) is not first


def test_closing_the_registry_closes_adapters(runtime: Runtime) -> None:
    closed: list[int] = []

    class Closable:
        kind = "sms"
        provider = "fake"
        status_map: dict[str, str] = {}

        def __init__(self, channel, _runtime) -> None:
            self.channel_id = channel.id

        def close(self) -> None:
            closed.append(self.channel_id)

    registry = ChannelRegistry()
    registry.register("fake", Closable)
    registry.adapter_for(simulator_channel(1, provider="fake"), runtime)
    registry.adapter_for(simulator_channel(2, provider="fake"), runtime)
    registry.forget(1)
    assert closed == [1]
    registry.close()
    assert closed == [1, 2]


def test_unknown_provider_is_a_clear_error(runtime: Runtime) -> None:
    with pytest.raises(UnknownProviderError, match="carrier-pigeon"):
        adapter_for(simulator_channel(provider="carrier-pigeon"), runtime)


def test_simulator_is_registered_by_default() -> None:
    assert "simulator" in ChannelRegistry().providers()
