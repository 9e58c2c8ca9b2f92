"""The SMPP adapter against `mannerly smsc-sim` on loopback: bind, submit, receipts, MO, keep-alive, throttling, reconnect."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime

import pytest

from mannerly.channels.base import OutboundMessage
from mannerly.channels.smpp import pdu
from mannerly.kit.sms import split_segments

from .conftest import PASSWORD, wait_for

KOREAN_PHONE = "+821023456789"
NOW = datetime(2025, 3, 4, tzinfo=UTC)


def outbound(message_id: int, text: str, to: str = KOREAN_PHONE) -> OutboundMessage:
    """An outbound message as the dispatcher builds it."""
    return OutboundMessage(message_id=message_id, to=to, text=text)


def collect_updates(adapter, count: int, timeout: float = 3.0) -> list:
    """Poll due_status_updates until `count` arrived."""
    updates: list = []

    def enough() -> bool:
        """Gather and check."""
        updates.extend(adapter.due_status_updates(NOW))
        return len(updates) >= count

    wait_for(enough, timeout)
    return updates


def test_bind_and_short_gsm_submit(smsc, adapter_for, caplog):
    """A short GSM text goes as one submit_sm with data_coding 0 and registered_delivery 1; no secret is logged."""
    caplog.set_level(logging.DEBUG)
    simulator = smsc()
    adapter = adapter_for(simulator, system_type="WWW")
    result = adapter.send(outbound(1, "Your order #12 has shipped."))
    assert result.accepted and result.status == "sent" and result.provider_message_id
    assert simulator.phone_inbox(KOREAN_PHONE)[0].text == "Your order #12 has shipped."
    assert simulator.phone_inbox(KOREAN_PHONE)[0].data_coding == 0
    request = result.exchange.request
    assert (request["parts"], request["data_coding"], request["registered_delivery"]) == (1, 0, 1)
    assert (request["source_addr"], request["source_addr_ton"], request["destination_addr"]) == ("ACME", 5, "821023456789")
    assert PASSWORD not in repr(result) and PASSWORD not in caplog.text
    assert simulator.stats.binds == 1


@pytest.mark.parametrize("text,coding", [
    ("Dear customer, " + "your parcel is on its way and will arrive tomorrow between 9 and 12. " * 5, 0),
    ("주문하신 상품이 발송되었습니다. 내일 오전 중 도착 예정입니다. " * 4, 8),
    ("Η παραγγελία σας στάλθηκε! 😀 " * 5, 8),
])
def test_long_messages_are_concatenated(smsc, adapter_for, text, coding):
    """Long texts go as UDH parts (kit.sms segmenting) and the phone shows them joined."""
    simulator = smsc()
    adapter = adapter_for(simulator)
    result = adapter.send(outbound(2, text))
    assert result.accepted
    assert result.exchange.request["parts"] == len(split_segments(text)) > 1
    assert result.exchange.request["esm_class"] == pdu.ESM_CLASS_UDHI
    received = simulator.phone_inbox(KOREAN_PHONE)
    assert len(received) == 1 and received[0].text == text and received[0].data_coding == coding
    assert received[0].message_ids[0] == result.provider_message_id  # the first part's id is ours


@pytest.mark.parametrize("id_format,receipt_id_format,tlvs", [
    ("hex", "dec", True),
    ("dec", "HEX", True),
    ("HEX", "dec0", False),
    ("dec0", "hex", False),
    ("hex", "same", False),
])
def test_receipts_match_whatever_the_id_spelling(smsc, adapter_for, id_format, receipt_id_format, tlvs):
    """Receipts written in another id format (with or without TLVs) still match the message."""
    simulator = smsc(id_format=id_format, receipt_id_format=receipt_id_format, receipt_tlvs=tlvs)
    adapter = adapter_for(simulator)
    results = [adapter.send(outbound(n, f"Order {n} shipped")) for n in range(1, 21)]
    updates = collect_updates(adapter, 20)
    assert sorted(update.provider_message_id for update in updates) == sorted(r.provider_message_id for r in results)
    assert {(update.status, update.raw_status) for update in updates} == {("delivered", "DELIVRD")}


def test_multi_part_receipts_fold_into_one(smsc, adapter_for):
    """A 3-part message gets one delivered update; with failures one undelivered update carries the error."""
    simulator = smsc(id_format="HEX", receipt_id_format="dec")
    adapter = adapter_for(simulator)
    result = adapter.send(outbound(3, "x" * 400))
    assert result.exchange.request["parts"] == 3
    updates = collect_updates(adapter, 1)
    time.sleep(0.1)
    updates += adapter.due_status_updates(NOW)
    assert [(u.provider_message_id, u.status) for u in updates] == [(result.provider_message_id, "delivered")]

    failing = smsc(failure_rate=1.0)
    adapter = adapter_for(failing)
    result = adapter.send(outbound(4, "y" * 400))
    updates = collect_updates(adapter, 1)
    time.sleep(0.1)
    updates += adapter.due_status_updates(NOW)
    assert [(u.provider_message_id, u.status, u.raw_status, u.error_code) for u in updates] == [
        (result.provider_message_id, "undelivered", "UNDELIV", "001")]


def test_customer_messages_arrive_including_concatenated(smsc, adapter_for):
    """MO deliver_sm (short and concatenated, GSM and UCS-2) become InboundMessages; replies follow deliveries."""
    simulator = smsc(reply_rate=1.0, reply_delay_ms=0)
    adapter = adapter_for(simulator)
    simulator.call(simulator.phone_sends, "+306912345678", "ACME", "Γεια σας, πότε ανοίγετε;")
    simulator.call(simulator.phone_sends, "+6281234567890", "ACME", "Halo, " + "apakah pesanan saya sudah dikirim? " * 6)
    adapter.send(outbound(5, "Thanks for your order"))
    inbound: list = []
    wait_for(lambda: inbound.extend(adapter.pending_inbound(NOW)) or len(inbound) >= 3)
    by_sender = {message.from_address: message for message in inbound}
    assert by_sender["+306912345678"].text == "Γεια σας, πότε ανοίγετε;"
    assert by_sender["+6281234567890"].text.startswith("Halo, apakah") and by_sender["+6281234567890"].raw["parts"] == 2
    assert by_sender[KOREAN_PHONE].to_address == "ACME"
    assert len({message.provider_message_id for message in inbound}) == 3


def test_enquire_link_keeps_the_line_alive(smsc, adapter_for):
    """An idle session sends enquire_link at the configured interval and stays bound."""
    simulator = smsc()
    adapter = adapter_for(simulator, enquire_link_interval=0.1)
    wait_for(lambda: simulator.stats.enquire_links >= 2)
    assert adapter.client.bound and simulator.stats.binds == 1


def test_throttling_backs_off_and_is_retryable(smsc, adapter_for):
    """ESME_RTHROTTLED on a first part comes back retryable; nothing throttled was accepted; sends resume later."""
    simulator = smsc(throttle_per_second=3)
    adapter = adapter_for(simulator)
    results = [adapter.send(outbound(n, f"Flash sale {n}")) for n in range(10)]
    accepted = [result for result in results if result.accepted]
    throttled = [result for result in results if not result.accepted]
    assert len(accepted) == 3 == simulator.stats.submits
    assert throttled and all(r.retryable and r.status == "failed" and r.error_code == "ESME_RTHROTTLED" for r in throttled)
    # While backing off, the adapter does not even write (the SMSC saw fewer throttled submits than we refused).
    assert simulator.stats.throttled < len(throttled)
    time.sleep(1.05)
    assert adapter.send(outbound(99, "Back to normal")).accepted


def test_throttled_later_part_is_retried_in_place(smsc, adapter_for):
    """When a later part is throttled, only that part is submitted again; the message is accepted once."""
    simulator = smsc(throttle_per_second=2)
    adapter = adapter_for(simulator, throttle_backoff_min=0.2, throttle_backoff_max=0.8)
    result = adapter.send(outbound(6, "z" * 400))
    assert result.accepted and result.exchange.request["parts"] == 3
    assert simulator.stats.submits == 3 and simulator.stats.throttled >= 1
    assert simulator.phone_inbox(KOREAN_PHONE)[0].text == "z" * 400


def test_wrong_password_is_refused_and_nothing_is_sent(smsc, adapter_for):
    """A refused bind leaves the adapter unbound; sends come back retryable without reaching the SMSC."""
    simulator = smsc()
    adapter = adapter_for(simulator, wait=False, password="wrong", connect_timeout=0.3)
    wait_for(lambda: simulator.stats.bind_failures >= 1)
    result = adapter.send(outbound(7, "Hello"))
    assert not result.accepted and result.retryable and result.error_code == "NOT_BOUND"
    assert "ESME_RINVPASWD" in (adapter.client.last_error or "")
    assert simulator.stats.submits == 0


def test_reconnects_after_the_smsc_drops_the_connection(smsc, adapter_for):
    """After an abrupt drop the session binds again by itself and sending works."""
    simulator = smsc()
    adapter = adapter_for(simulator)
    assert adapter.send(outbound(8, "before")).accepted
    assert simulator.call(simulator.drop_connections) == 1
    wait_for(lambda: adapter.client.binds >= 2 and adapter.client.bound)
    assert adapter.send(outbound(9, "after")).accepted
    assert simulator.stats.binds == 2


def test_smsc_unbind_is_answered_and_the_session_rebinds(smsc, adapter_for):
    """An unbind from the SMSC gets unbind_resp; the ESME binds again."""
    simulator = smsc()
    adapter = adapter_for(simulator)
    simulator.call(simulator.unbind_sessions)
    wait_for(lambda: adapter.client.binds >= 2 and adapter.client.bound)
    assert adapter.send(outbound(10, "still here")).accepted


def test_no_answer_after_writing_means_unknown(smsc, adapter_for):
    """A submit_sm written without a submit_sm_resp in time is `unknown`, never retryable."""
    simulator = smsc(submit_resp_delay_ms=800)
    adapter = adapter_for(simulator, response_timeout=0.3)
    result = adapter.send(outbound(11, "slow"))
    assert (result.accepted, result.status, result.retryable) == (False, "unknown", False)
    assert simulator.stats.submits == 1


def test_connection_drop_while_waiting_means_unknown(smsc, adapter_for):
    """A connection that drops between submit_sm and its response makes the outcome unknown."""
    simulator = smsc(submit_resp_delay_ms=1000)
    adapter = adapter_for(simulator, response_timeout=2.0)
    simulator.loop.call_later(0.2, simulator.drop_connections)
    result = adapter.send(outbound(12, "in flight"))
    assert (result.status, result.retryable) == ("unknown", False)


def test_window_limits_outstanding_requests(smsc, adapter_for):
    """send_many pipelines within the window: every message accepted, in order."""
    simulator = smsc(submit_resp_delay_ms=20)
    adapter = adapter_for(simulator, window=4)
    started = time.monotonic()
    results = adapter.send_many([outbound(n, f"Batch {n}") for n in range(40)])
    elapsed = time.monotonic() - started
    assert all(result.accepted for result in results)
    assert len({result.provider_message_id for result in results}) == 40
    # 40 responses each held 20 ms: serially 0.8 s; with a window of 4 about 0.2 s.
    assert elapsed < 0.6


def test_unbind_on_close(smsc, adapter_for):
    """close() unbinds politely before disconnecting."""
    simulator = smsc()
    adapter = adapter_for(simulator)
    started = time.monotonic()
    adapter.close()
    assert time.monotonic() - started < 1.0  # the unbind_resp was read, not waited out
    wait_for(lambda: simulator.stats.unbinds == 1)
    assert not adapter.client.bound
    time.sleep(0.2)
    assert simulator.stats.binds == 1  # no reconnect after a deliberate unbind


def test_lookup_status_uses_query_sm(smsc, adapter_for):
    """lookup_status asks the SMSC with query_sm: en route first, delivered once the receipt is due."""
    simulator = smsc(receipt_delay_ms=300)
    adapter = adapter_for(simulator)
    result = adapter.send(outbound(13, "query me"))
    early = adapter.lookup_status(result.provider_message_id)
    assert (early.status, early.raw_status) == ("sent", "ENROUTE")
    time.sleep(0.4)
    late = adapter.lookup_status(result.provider_message_id)
    assert (late.status, late.raw_status) == ("delivered", "DELIVRD")
    assert adapter.lookup_status("nonexistent") is None


def test_simulator_answers_unknown_commands_with_generic_nack(smsc):
    """A raw client sending an unknown command gets generic_nack ESME_RINVCMDID; submit before bind is refused."""
    simulator = smsc()
    with socket.create_connection(simulator.address, timeout=2) as raw:
        raw.sendall(bytes.fromhex("00000010 00000099 00000000 00000003".replace(" ", "")))
        answer = pdu.decode(raw.recv(16))
        assert (answer.command_id, answer.command_status, answer.sequence_number) == (
            pdu.GENERIC_NACK, pdu.ESME_RINVCMDID, 3)
        submit = pdu.Pdu(pdu.SUBMIT_SM, 4, params=pdu.short_message_params(
            source_addr="A", destination_addr="1", short_message=b"x"))
        raw.sendall(pdu.encode(submit))
        answer = pdu.decode(raw.recv(64))
        assert (answer.command_id, answer.command_status) == (pdu.SUBMIT_SM_RESP, pdu.ESME_RINVBNDSTS)


def test_submit_many_keeps_the_window_and_maps_each_response(smsc, adapter_for):
    """submit_many never has more than `window` requests outstanding, and each waiter gets its own request's answer."""
    simulator = smsc(submit_resp_delay_ms=15)
    adapter = adapter_for(simulator, window=3)
    client = adapter.client
    outstanding_at_write: list[int] = []
    write = client._write

    def counting_write(data: bytes) -> None:
        """Record how many requests await an answer (this write's included) before writing."""
        outstanding_at_write.append(len(client._pending))
        write(data)

    client._write = counting_write
    phones = [f"8210234567{n:02d}" for n in range(10)]
    requests = [pdu.Pdu(pdu.SUBMIT_SM, params=pdu.short_message_params(
        source_addr="ACME", destination_addr=phone, short_message=f"to {phone}".encode())) for phone in phones]
    pendings = client.submit_many(requests)
    answers = [pending.wait(2) for pending in pendings]
    assert outstanding_at_write and max(outstanding_at_write) <= 3
    assert len(outstanding_at_write) < len(requests)  # several PDUs went per write
    assert [simulator.messages[answer.get("message_id")].destination_addr for answer in answers] == phones


def test_send_many_with_throttled_answers_in_the_batch(smsc, adapter_for):
    """In one batch, throttled first parts come back retryable and the accepted ones carry their own message's id."""
    simulator = smsc(throttle_per_second=3)
    adapter = adapter_for(simulator, window=10)
    phones = [f"+8210234567{n:02d}" for n in range(8)]
    results = adapter.send_many([outbound(n, f"Flash sale {n}", to=phone) for n, phone in enumerate(phones)])
    accepted = [(phone, result) for phone, result in zip(phones, results, strict=True) if result.accepted]
    refused = [result for result in results if not result.accepted]
    assert len(accepted) == 3 == simulator.stats.submits
    assert len(refused) == 5 and all(r.retryable and r.error_code == "ESME_RTHROTTLED" for r in refused)
    for phone, result in accepted:
        assert simulator.messages[result.provider_message_id].destination_addr == phone.lstrip("+")


def test_deliver_sm_of_one_read_are_answered_in_one_write():
    """Several deliver_sm read at once are each handed to on_deliver, then answered together in one write, in order."""
    from mannerly.channels.smpp.esme import EsmeClient, EsmeSettings

    delivered: list[int] = []
    client = EsmeClient(EsmeSettings(host="127.0.0.1", port=1, system_id="acme"),
                        on_deliver=lambda message: delivered.append(message.sequence_number))
    ours, smsc_end = socket.socketpair()
    writes: list[bytes] = []
    write = client._write

    def recording_write(data: bytes) -> None:
        """Keep what is written, then write it."""
        writes.append(data)
        write(data)

    client._write = recording_write
    client._socket = ours
    receipts = [pdu.Pdu(pdu.DELIVER_SM, sequence, params=pdu.short_message_params(
        source_addr="821023456789", destination_addr="ACME", short_message=b"id:1 stat:DELIVRD",
        esm_class=pdu.ESM_CLASS_DELIVERY_RECEIPT)) for sequence in (11, 12, 13, 14)]
    # Written before the reader starts, so its first read holds all four.
    smsc_end.sendall(b"".join(pdu.encode(receipt) for receipt in receipts)
                     + pdu.encode(pdu.Pdu(pdu.UNBIND, 15)))
    client._read_loop(ours)
    assert delivered == [11, 12, 13, 14]
    # The four deliver_sm_resp and the unbind_resp in one write, in the SMSC's order.
    assert len(writes) == 1
    answers = [pdu.decode(frame) for frame in pdu.split_frames(bytearray(writes[0]))]
    assert [(answer.command_id, answer.sequence_number) for answer in answers] == [
        (pdu.DELIVER_SM_RESP, 11), (pdu.DELIVER_SM_RESP, 12), (pdu.DELIVER_SM_RESP, 13), (pdu.DELIVER_SM_RESP, 14),
        (pdu.UNBIND_RESP, 15)]
    smsc_end.close()


def test_simulator_sends_receipts_due_together_in_one_write(smsc, adapter_for):
    """Receipts that fall due in one loop iteration leave in one write, and every one arrives and matches."""
    simulator = smsc(receipt_delay_ms=30)
    adapter = adapter_for(simulator, window=10)
    session = next(iter(simulator.sessions))
    writes: list[int] = []
    write = session.write

    def counting_write(data: bytes) -> None:
        """Count the deliver_sm in each write of the session."""
        frames = [pdu.decode(frame) for frame in pdu.split_frames(bytearray(data))]
        writes.append(sum(1 for frame in frames if frame.command_id == pdu.DELIVER_SM))
        write(data)

    session.write = counting_write
    phones = [f"+8210234567{n:02d}" for n in range(10)]
    results = adapter.send_many([outbound(n, f"Order {n} shipped", to=phone) for n, phone in enumerate(phones)])
    assert all(result.accepted for result in results)
    updates = collect_updates(adapter, 10)
    assert sorted(update.provider_message_id for update in updates) == sorted(r.provider_message_id for r in results)
    receipt_writes = [count for count in writes if count]
    assert sum(receipt_writes) == 10
    assert len(receipt_writes) < 10  # batched: several receipts per write
