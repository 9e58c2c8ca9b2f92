"""Which adapter serves which provider: one line per adapter, built once per channel and reused."""

from __future__ import annotations

import hashlib
import importlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mannerly.channels.base import ChannelAdapter

if TYPE_CHECKING:
    from mannerly.models import Channel
    from mannerly.runtime import Runtime

AdapterFactory = Callable[["Channel", "Runtime"], ChannelAdapter]

# Provider name -> "module:function" building an adapter from (channel row, runtime).
# Adding a channel = one folder under channels/ and one line here. Strings are imported
# on first use, so a provider's dependencies load only when a channel uses it.
ADAPTER_FACTORIES: dict[str, str] = {
    "simulator": "mannerly.channels.simulator.adapter:create_adapter",
    "smpp": "mannerly.channels.smpp.adapter:create_adapter",
    "twilio": "mannerly.channels.twilio.adapter:create_adapter",
    "whatsapp_cloud": "mannerly.channels.whatsapp_cloud.adapter:create_adapter",
    "messenger": "mannerly.channels.messenger.adapter:create_adapter",
}


class UnknownProviderError(LookupError):
    """No adapter is registered for a channel's provider."""


def _import_factory(path: str) -> AdapterFactory:
    """Import a "module:function" factory path."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _fingerprint(channel: Channel) -> str:
    """A digest of what an adapter is built from, so an edited channel gets a fresh adapter."""
    described = json.dumps(
        [channel.provider, channel.kind, channel.sender_id, channel.config],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(described.encode()).hexdigest()


class ChannelRegistry:
    """Provider name -> adapter factory, plus the adapters already built for each channel."""

    def __init__(self, factories: Mapping[str, str | AdapterFactory] | None = None) -> None:
        """Start from the built-in factories (or the given ones)."""
        self._factories: dict[str, str | AdapterFactory] = dict(
            ADAPTER_FACTORIES if factories is None else factories
        )
        self._adapters: dict[int, tuple[str, ChannelAdapter]] = {}
        self._lock = threading.Lock()

    def register(self, provider: str, factory: str | AdapterFactory) -> None:
        """Add or replace the factory for one provider (tests use this to plug in fakes)."""
        self._factories[provider] = factory

    def providers(self) -> list[str]:
        """Names of every registered provider."""
        return sorted(self._factories)

    def factory_for(self, provider: str) -> AdapterFactory:
        """The factory for a provider; raises UnknownProviderError when none is registered."""
        try:
            factory = self._factories[provider]
        except KeyError:
            raise UnknownProviderError(f"no channel adapter registered for provider {provider!r}") from None
        return _import_factory(factory) if isinstance(factory, str) else factory

    def adapter_for(self, channel: Channel, runtime: Runtime) -> ChannelAdapter:
        """The adapter for a channel row, reused while the channel's settings stay the same."""
        fingerprint = _fingerprint(channel)
        with self._lock:
            cached = self._adapters.get(channel.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
        adapter = self.factory_for(channel.provider)(channel, runtime)
        with self._lock:
            previous = self._adapters.get(channel.id)
            self._adapters[channel.id] = (fingerprint, adapter)
        if previous is not None and previous[1] is not adapter:
            _close_adapter(previous[1])
        return adapter

    def forget(self, channel_id: int) -> None:
        """Drop (and close) the adapter built for a channel, e.g. after it was deleted."""
        with self._lock:
            cached = self._adapters.pop(channel_id, None)
        if cached is not None:
            _close_adapter(cached[1])

    def close(self) -> None:
        """Close every adapter that holds resources (connections, sockets)."""
        with self._lock:
            adapters = [adapter for _, adapter in self._adapters.values()]
            self._adapters.clear()
        for adapter in adapters:
            _close_adapter(adapter)


def _close_adapter(adapter: Any) -> None:
    """Call an adapter's optional close()."""
    close = getattr(adapter, "close", None)
    if callable(close):
        close()


def adapter_for(channel: Channel, runtime: Runtime) -> ChannelAdapter:
    """The adapter for a channel row, from the runtime's registry."""
    return runtime.channels.adapter_for(channel, runtime)
