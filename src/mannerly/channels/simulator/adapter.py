"""The built-in simulator carrier (SPEC C5): a local network plus simulated customer phones.

It lets the whole product run with no provider account. `send` accepts at once; a delivery
receipt becomes due after the configured latency (with jitter) and waits in a thread-safe
queue until the worker polls `due_status_updates(now)` and feeds it to the inbound pipeline,
the same path real providers' receipts take. A share of messages fails, decided by a
seedable RNG. Time only comes from the `now` arguments or the clock passed in.
"""

from __future__ import annotations

import heapq
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from mannerly.channels.base import (
    Exchange,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    normalize_status,
)

# Raw statuses in the style of SMPP delivery receipts, so the mapping is exercised for real.
SIMULATOR_STATUS_MAP: dict[str, str] = {
    "ACCEPTD": "queued",
    "ENROUTE": "sent",
    "DELIVRD": "delivered",
    "UNDELIV": "undelivered",
    "EXPIRED": "undelivered",
    "REJECTD": "failed",
    "READ": "read",
    "UNKNOWN": "unknown",
}
ERROR_UNREACHABLE = "SIM-UNREACHABLE"  # the phone is off or out of coverage -> undelivered
ERROR_REJECTED = "SIM-REJECTED"  # the simulated network refused the message -> failed
ERROR_INVALID_ADDRESS = "SIM-INVALID-ADDRESS"
ERROR_EMPTY_BODY = "SIM-EMPTY-BODY"

# Share of simulated failures that are "undelivered" rather than "failed".
_UNDELIVERED_SHARE = 0.7
# Receipt delay varies by up to this fraction of the latency either way.
_JITTER_FRACTION = 0.25
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_KINDS = frozenset({"sms", "whatsapp"})


@dataclass(frozen=True, slots=True)
class PhoneMessage:
    """One message as a simulated phone shows it."""

    phone: str  # the simulated phone's address (E.164 or PSID)
    direction: str  # "received" (from the business) or "sent" (to the business)
    other_party: str  # the business sender the phone talks to
    text: str
    at: datetime  # when it reached the phone, or when the phone sent it
    provider_message_id: str
    channel_kind: str = "sms"
    channel_key: int | None = None  # the simulator channel it went through (whose workspace may read it)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the simulated network will report for one accepted message."""

    due: datetime
    update: StatusUpdate
    channel_key: int | None


class SimulatorCarrier:
    """The shared simulated network: pending receipts, outcomes and every phone's messages."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        latency_ms: int = 300,
        failure_rate: float = 0.02,
        seed: int | None = None,
    ) -> None:
        """Create a carrier; with a seed, the same calls give the same ids and outcomes."""
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        self.clock = clock
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._pending: dict[int | None, list[tuple[datetime, int, str]]] = {}
        self._outcomes: dict[str, _Outcome] = {}
        self._phones: dict[str, list[PhoneMessage]] = {}
        self._sequence = 0

    @classmethod
    def from_settings(cls, settings: Any, clock: Callable[[], datetime]) -> SimulatorCarrier:
        """Build the carrier from `Settings.simulator_*`."""
        return cls(
            clock=clock,
            latency_ms=settings.simulator_latency_ms,
            failure_rate=settings.simulator_failure_rate,
            seed=settings.simulator_seed,
        )

    def submit(
        self, message: OutboundMessage, *, kind: str = "sms", channel_key: int | None = None
    ) -> SendResult:
        """Accept one message, decide its fate and schedule its delivery receipt."""
        sender = message.sender_id or "Mannerly"
        request = {"to": message.to, "from": sender, "text": message.text, "segments": message.segments}
        refusal = _refusal(message, kind)
        if refusal is not None:
            code, detail = refusal
            response = {"status": "REJECTD", "error": code, "detail": detail}
            return SendResult(
                accepted=False,
                status="failed",
                error_code=code,
                error_detail=detail,
                retryable=False,
                exchange=Exchange(request=request, response=response, status_code=400, duration_ms=0),
            )
        latency_ms = int(message.config.get("latency_ms", self.latency_ms))
        failure_rate = float(message.config.get("failure_rate", self.failure_rate))
        now = self.clock()
        with self._lock:
            # The draws happen in a fixed order so a seed reproduces every outcome.
            provider_id = f"SIM{message.message_id:08X}{self._rng.getrandbits(32):08X}"
            jitter = self._rng.uniform(-_JITTER_FRACTION, _JITTER_FRACTION)
            fails = self._rng.random() < failure_rate
            undelivered = self._rng.random() < _UNDELIVERED_SHARE
            due = now + timedelta(milliseconds=max(0.0, latency_ms * (1 + jitter)))
            if not fails:
                raw, code = "DELIVRD", None
            elif undelivered:
                raw, code = "UNDELIV", ERROR_UNREACHABLE
            else:
                raw, code = "REJECTD", ERROR_REJECTED
            update = StatusUpdate(
                provider_message_id=provider_id,
                status=normalize_status(SIMULATOR_STATUS_MAP, raw),
                raw_status=raw,
                error_code=code,
                occurred_at=due,
            )
            self._outcomes[provider_id] = _Outcome(due=due, update=update, channel_key=channel_key)
            self._sequence += 1
            heapq.heappush(self._pending.setdefault(channel_key, []), (due, self._sequence, provider_id))
            if not fails:
                self._phones.setdefault(message.to, []).append(
                    PhoneMessage(
                        phone=message.to,
                        direction="received",
                        other_party=sender,
                        text=message.text,
                        at=due,
                        provider_message_id=provider_id,
                        channel_kind=kind,
                        channel_key=channel_key,
                    )
                )
        response = {"id": provider_id, "status": "ACCEPTD"}
        return SendResult(
            accepted=True,
            status="sent",
            provider_message_id=provider_id,
            exchange=Exchange(request=request, response=response, status_code=200, duration_ms=0),
        )

    def due_status_updates(self, now: datetime, channel_key: int | None) -> list[StatusUpdate]:
        """Remove and return one channel's receipts due by `now`, oldest first."""
        return [update for _, update in self._pop_due(now, [channel_key])]

    def due_receipts(self, now: datetime) -> list[tuple[int | None, StatusUpdate]]:
        """Remove and return every channel's receipts due by `now` as (channel id, update), oldest first."""
        with self._lock:
            keys = list(self._pending)
        return self._pop_due(now, keys)

    def _pop_due(self, now: datetime, keys: list[int | None]) -> list[tuple[int | None, StatusUpdate]]:
        """Take the due receipts of the given channels off their queues."""
        due: list[tuple[datetime, int, str]] = []
        with self._lock:
            for key in keys:
                queue = self._pending.get(key, [])
                while queue and queue[0][0] <= now:
                    due.append(heapq.heappop(queue))
        due.sort()
        outcomes = [self._outcomes[provider_id] for _, _, provider_id in due]
        return [(outcome.channel_key, outcome.update) for outcome in outcomes]

    def pending_count(self) -> int:
        """How many receipts are still waiting to become due."""
        with self._lock:
            return sum(len(queue) for queue in self._pending.values())

    def lookup_status(self, provider_message_id: str, now: datetime | None = None) -> StatusUpdate | None:
        """What the network knows of a message now: its receipt once due, "sent" before, None if unknown."""
        now = now or self.clock()
        with self._lock:
            outcome = self._outcomes.get(provider_message_id)
        if outcome is None:
            return None
        if outcome.due <= now:
            return outcome.update
        return StatusUpdate(
            provider_message_id=provider_message_id,
            status=normalize_status(SIMULATOR_STATUS_MAP, "ENROUTE"),
            raw_status="ENROUTE",
            occurred_at=now,
        )

    def phone_sends(
        self,
        from_address: str,
        to_address: str,
        text: str,
        *,
        now: datetime | None = None,
        kind: str = "sms",
        channel_key: int | None = None,
    ) -> InboundMessage:
        """A simulated customer texts the business; returns the event for the inbound pipeline."""
        now = now or self.clock()
        with self._lock:
            self._sequence += 1
            # Time plus a counter: unique across restarts with a real clock, repeatable with a fixed one.
            provider_id = f"SIMIN{int(now.timestamp() * 1000):011X}{self._sequence:05X}"
            self._phones.setdefault(from_address, []).append(
                PhoneMessage(
                    phone=from_address,
                    direction="sent",
                    other_party=to_address,
                    text=text,
                    at=now,
                    provider_message_id=provider_id,
                    channel_kind=kind,
                    channel_key=channel_key,
                )
            )
        return InboundMessage(
            provider_message_id=provider_id,
            from_address=from_address,
            to_address=to_address,
            text=text,
            received_at=now,
            raw={"id": provider_id, "from": from_address, "to": to_address, "text": text, "kind": kind},
        )

    def phone_inbox(self, address: str, now: datetime | None = None) -> list[PhoneMessage]:
        """The messages a simulated phone has received by `now`, oldest first."""
        return [entry for entry in self.phone_thread(address, now) if entry.direction == "received"]

    def phone_thread(self, address: str, now: datetime | None = None) -> list[PhoneMessage]:
        """Everything a simulated phone received or sent by `now`, oldest first."""
        now = now or self.clock()
        with self._lock:
            entries = list(self._phones.get(address, []))
        return sorted((entry for entry in entries if entry.at <= now), key=lambda entry: entry.at)

    def phones(self) -> list[str]:
        """Addresses of every simulated phone that has sent or been sent something."""
        with self._lock:
            return sorted(self._phones)


def _refusal(message: OutboundMessage, kind: str) -> tuple[str, str] | None:
    """Why the simulated network refuses a message outright, or None when it accepts it."""
    if not message.to:
        return ERROR_INVALID_ADDRESS, "no recipient address"
    if kind in _PHONE_KINDS and not _E164.match(message.to):
        return ERROR_INVALID_ADDRESS, f"{message.to!r} is not an E.164 phone number"
    if not message.text.strip():
        return ERROR_EMPTY_BODY, "the message has no text"
    return None


class SimulatorAdapter:
    """A channel on the simulator carrier; implements mannerly.channels.base.ChannelAdapter."""

    provider = "simulator"
    status_map: dict[str, str] = SIMULATOR_STATUS_MAP

    def __init__(
        self,
        carrier: SimulatorCarrier,
        *,
        kind: str = "sms",
        channel_id: int | None = None,
        sender_id: str | None = None,
    ) -> None:
        """Bind one channel (kind, id, sender) to the shared carrier."""
        self.carrier = carrier
        self.kind = kind
        self.channel_id = channel_id
        self.sender_id = sender_id

    def send(self, message: OutboundMessage) -> SendResult:
        """Hand a message to the simulated network (accepted at once unless malformed)."""
        if message.sender_id is None and self.sender_id is not None:
            message = replace(message, sender_id=self.sender_id)
        return self.carrier.submit(message, kind=self.kind, channel_key=self.channel_id)

    def lookup_status(self, provider_message_id: str) -> StatusUpdate | None:
        """What the simulated network knows about a message right now."""
        return self.carrier.lookup_status(provider_message_id)

    def due_status_updates(self, now: datetime) -> list[StatusUpdate]:
        """This channel's delivery receipts due by `now`; each is returned once."""
        return self.carrier.due_status_updates(now, self.channel_id)

    def phone_inbox(self, address: str, now: datetime | None = None) -> list[PhoneMessage]:
        """What a simulated phone has received (from any simulator channel) by `now`."""
        return self.carrier.phone_inbox(address, now)

    def receive_from_phone(self, from_address: str, text: str, now: datetime | None = None) -> InboundMessage:
        """A simulated customer writes to this channel's sender; returns the inbound event."""
        return self.carrier.phone_sends(
            from_address, self.sender_id or "Mannerly", text, now=now, kind=self.kind, channel_key=self.channel_id
        )



def create_adapter(channel: Any, runtime: Any) -> SimulatorAdapter:
    """Registry factory: a simulator adapter for a channel row, on the runtime's shared carrier."""
    return SimulatorAdapter(
        runtime.simulator, kind=channel.kind, channel_id=channel.id, sender_id=channel.sender_id
    )
