"""The simulator carrier: instant acceptance, receipts after the latency, seeded failures, phone inboxes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from mannerly.channels.base import ChannelAdapter, OutboundMessage
from mannerly.channels.simulator.adapter import (
    ERROR_INVALID_ADDRESS,
    ERROR_REJECTED,
    ERROR_UNREACHABLE,
    SimulatorAdapter,
    SimulatorCarrier,
)
from mannerly.runtime import ManualClock

START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
PHONE = "+6281234567890"


def carrier(clock: ManualClock, *, failure_rate: float = 0.0, seed: int | None = 7, latency_ms: int = 300):
    """A carrier on a manual clock."""
    return SimulatorCarrier(clock=clock, latency_ms=latency_ms, failure_rate=failure_rate, seed=seed)


def message(message_id: int = 1, to: str = PHONE, text: str = "Pesanan Anda sudah dikirim.", **extra) -> OutboundMessage:
    """An outbound message to the simulator."""
    return OutboundMessage(message_id=message_id, to=to, text=text, sender_id="TOKO", **extra)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def test_send_is_accepted_at_once_with_a_simulator_id(clock: ManualClock) -> None:
    result = SimulatorAdapter(carrier(clock), channel_id=1).send(message(42))
    assert result.accepted and result.status == "sent" and not result.retryable
    assert result.provider_message_id.startswith("SIM0000002A")
    assert result.exchange.request["to"] == PHONE
    assert result.exchange.response == {"id": result.provider_message_id, "status": "ACCEPTD"}


def test_receipt_becomes_due_after_the_latency_and_is_returned_once(clock: ManualClock) -> None:
    adapter = SimulatorAdapter(carrier(clock, latency_ms=1000), channel_id=1)
    sent = adapter.send(message())
    # Jitter is at most a quarter of the latency either way.
    assert adapter.due_status_updates(START + timedelta(milliseconds=749)) == []
    updates = adapter.due_status_updates(START + timedelta(milliseconds=1250))
    assert [(u.provider_message_id, u.status, u.raw_status) for u in updates] == [
        (sent.provider_message_id, "delivered", "DELIVRD")
    ]
    assert START + timedelta(milliseconds=750) <= updates[0].occurred_at <= START + timedelta(milliseconds=1250)
    assert adapter.due_status_updates(START + timedelta(hours=1)) == []


def test_receipts_come_out_in_due_order(clock: ManualClock) -> None:
    adapter = SimulatorAdapter(carrier(clock), channel_id=1)
    for message_id in range(1, 6):
        adapter.send(message(message_id))
        clock.advance(milliseconds=100)
    updates = adapter.due_status_updates(START + timedelta(seconds=5))
    assert len(updates) == 5
    assert [u.occurred_at for u in updates] == sorted(u.occurred_at for u in updates)


def test_each_channel_only_sees_its_own_receipts(clock: ManualClock) -> None:
    shared = carrier(clock)
    sms = SimulatorAdapter(shared, kind="sms", channel_id=1)
    whatsapp = SimulatorAdapter(shared, kind="whatsapp", channel_id=2)
    sms.send(message(1))
    whatsapp.send(message(2))
    later = START + timedelta(seconds=5)
    assert [u.provider_message_id[:11] for u in sms.due_status_updates(later)] == ["SIM00000001"]
    assert [(channel, u.provider_message_id[:11]) for channel, u in shared.due_receipts(later)] == [
        (2, "SIM00000002")
    ]


def test_same_seed_same_outcomes(clock: ManualClock) -> None:
    def run(seed: int) -> list[tuple]:
        sim = carrier(ManualClock(START), failure_rate=0.3, seed=seed)
        results = [sim.submit(message(i)) for i in range(1, 40)]
        updates = sim.due_status_updates(START + timedelta(minutes=1), None)
        return [r.provider_message_id for r in results] + [(u.status, u.occurred_at) for u in updates]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_failure_rate_is_roughly_respected(clock: ManualClock) -> None:
    sim = carrier(clock, failure_rate=0.2, seed=3)
    for message_id in range(1, 1001):
        sim.submit(message(message_id))
    updates = sim.due_status_updates(START + timedelta(minutes=1), None)
    failed = [u for u in updates if u.status != "delivered"]
    assert 150 <= len(failed) <= 250
    assert {u.status for u in failed} == {"undelivered", "failed"}
    assert {(u.status, u.error_code) for u in failed} == {
        ("undelivered", ERROR_UNREACHABLE),
        ("failed", ERROR_REJECTED),
    }


@pytest.mark.parametrize(("rate", "statuses"), [(0.0, {"delivered"}), (1.0, {"undelivered", "failed"})])
def test_failure_rate_extremes(clock: ManualClock, rate: float, statuses: set[str]) -> None:
    sim = carrier(clock, failure_rate=rate)
    for message_id in range(1, 51):
        sim.submit(message(message_id))
    assert {u.status for u in sim.due_status_updates(START + timedelta(minutes=1), None)} == statuses


def test_channel_config_can_override_latency_and_failure_rate(clock: ManualClock) -> None:
    sim = carrier(clock, failure_rate=0.0, latency_ms=300)
    sim.submit(message(config={"failure_rate": 1.0, "latency_ms": 10_000}))
    assert sim.due_status_updates(START + timedelta(seconds=5), None) == []
    [update] = sim.due_status_updates(START + timedelta(seconds=20), None)
    assert update.status in {"undelivered", "failed"}


@pytest.mark.parametrize(
    ("kind", "to", "text", "code"),
    [
        ("sms", "081234567890", "hi", ERROR_INVALID_ADDRESS),  # not E.164
        ("sms", "", "hi", ERROR_INVALID_ADDRESS),
        ("whatsapp", "+12", "hi", ERROR_INVALID_ADDRESS),
        ("sms", PHONE, "   ", "SIM-EMPTY-BODY"),
    ],
)
def test_malformed_messages_are_refused_without_a_receipt(clock, kind, to, text, code) -> None:
    sim = carrier(clock)
    result = SimulatorAdapter(sim, kind=kind).send(message(to=to, text=text))
    assert not result.accepted and result.status == "failed" and result.error_code == code
    assert result.provider_message_id is None and not result.retryable
    assert sim.pending_count() == 0


def test_messenger_addresses_need_not_be_phone_numbers(clock: ManualClock) -> None:
    result = SimulatorAdapter(carrier(clock), kind="messenger").send(message(to="6543210987654321"))
    assert result.accepted


def test_phone_inbox_shows_delivered_messages_once_they_arrive(clock: ManualClock) -> None:
    sim = carrier(clock, failure_rate=0.0)
    adapter = SimulatorAdapter(sim, channel_id=1, sender_id="+15550100")
    adapter.send(OutboundMessage(message_id=1, to=PHONE, text="Halo Budi"))
    assert adapter.phone_inbox(PHONE) == []
    clock.advance(seconds=1)
    [entry] = adapter.phone_inbox(PHONE)
    assert (entry.text, entry.other_party, entry.direction) == ("Halo Budi", "+15550100", "received")
    assert sim.phone_inbox("+6280000000000") == []


def test_failed_messages_never_reach_the_phone(clock: ManualClock) -> None:
    sim = carrier(clock, failure_rate=1.0)
    sim.submit(message())
    clock.advance(minutes=1)
    assert sim.phone_inbox(PHONE) == []


def test_phone_replies_become_inbound_events(clock: ManualClock) -> None:
    adapter = SimulatorAdapter(carrier(clock), channel_id=1, sender_id="+15550100")
    first = adapter.receive_from_phone(PHONE, "BERHENTI")
    second = adapter.receive_from_phone(PHONE, "Terima kasih")
    assert (first.from_address, first.to_address, first.text) == (PHONE, "+15550100", "BERHENTI")
    assert first.received_at == START
    assert first.provider_message_id != second.provider_message_id
    assert [entry.text for entry in adapter.carrier.phone_thread(PHONE)] == ["BERHENTI", "Terima kasih"]
    assert adapter.phone_inbox(PHONE) == []  # the phone's own messages are not in its inbox
    assert adapter.carrier.phones() == [PHONE]


def test_lookup_status_before_and_after_the_receipt(clock: ManualClock) -> None:
    adapter = SimulatorAdapter(carrier(clock), channel_id=1)
    sent = adapter.send(message())
    assert adapter.lookup_status(sent.provider_message_id).status == "sent"
    clock.advance(seconds=1)
    assert adapter.lookup_status(sent.provider_message_id).status == "delivered"
    assert adapter.lookup_status("SIM-NEVER-SENT") is None


def test_concurrent_sends_get_distinct_ids_and_one_receipt_each(clock: ManualClock) -> None:
    sim = carrier(clock, seed=None)
    ids: list[str] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        for n in range(200):
            result = sim.submit(message(offset * 1000 + n + 1))
            with lock:
                ids.append(result.provider_message_id)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1600
    updates = sim.due_status_updates(START + timedelta(minutes=1), None)
    assert sorted(u.provider_message_id for u in updates) == sorted(ids)


def test_adapter_satisfies_the_channel_protocol(clock: ManualClock) -> None:
    adapter = SimulatorAdapter(carrier(clock))
    assert isinstance(adapter, ChannelAdapter)
    assert adapter.provider == "simulator"
    assert adapter.status_map["DELIVRD"] == "delivered"
