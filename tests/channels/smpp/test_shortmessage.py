"""Short message contents: parts and UDH, text decoding, receipt texts, id normalization and receipt matching."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mannerly.channels.base import StatusUpdate
from mannerly.channels.smpp import pdu
from mannerly.channels.smpp.adapter import MessageAssembler, ReceiptTracker, SmppAdapter, SmppChannelSettings
from mannerly.channels.smpp.shortmessage import (
    Concatenation,
    decode_text,
    encode_parts,
    encode_text,
    id_keys,
    parse_receipt_text,
    split_user_data,
)
from mannerly.kit.sms import split_segments

from .test_pdu import TESTDATA

# (text, parts, data_coding, octets of the text per part without UDH)
PART_CASES = [
    ("Hello", 1, 0, [5]),
    ("x" * 160, 1, 0, [160]),
    ("x" * 161, 2, 0, [153, 8]),
    ("{" * 80, 1, 0, [160]),  # extension characters cost two septets
    ("{" * 81, 2, 0, [152, 10]),  # an escape pair is never split
    ("가" * 70, 1, 8, [140]),
    ("가" * 71, 2, 8, [134, 8]),
    ("😀" * 35, 1, 8, [140]),  # surrogate pairs: two UCS-2 units each
    ("😀" * 35 + "a", 2, 8, [132, 10]),  # a part never splits a surrogate pair
]


@pytest.mark.parametrize("text,count,data_coding,sizes", PART_CASES)
def test_parts_follow_kit_sms_segments(text, count, data_coding, sizes):
    """Parts agree with kit.sms.split_segments; multi-part ones carry the 6-octet UDH and UDHI."""
    parts = encode_parts(text, reference=0x2A)
    assert len(parts) == count == len(split_segments(text))
    assert [part.data_coding for part in parts] == [data_coding] * count
    assert "".join(part.text for part in parts) == text
    for number, (part, size) in enumerate(zip(parts, sizes, strict=True), start=1):
        if count == 1:
            assert part.esm_class == 0 and len(part.short_message) == size
        else:
            assert part.esm_class == pdu.ESM_CLASS_UDHI
            assert part.short_message[:6] == bytes((5, 0, 3, 0x2A, count, number))
            assert len(part.short_message) == 6 + size
        concatenation, payload = split_user_data(part.short_message, part.esm_class)
        assert decode_text(payload, part.data_coding) == part.text


def test_split_user_data_reads_16_bit_reference():
    """IEI 0x08 (16-bit reference) is understood too."""
    concatenation, payload = split_user_data(bytes.fromhex("06080401020301") + b"hi", pdu.ESM_CLASS_UDHI)
    assert concatenation == Concatenation(0x0102, 3, 1) and payload == b"hi"


RECEIPT_TEXTS = [
    ("id:0911897980 sub:001 dlvrd:000 submit date:1201121551 done date:1201121551 stat:UNDELIV err:075 text:-PROFILE",
     ("0911897980", "UNDELIV", "075", "-PROFILE")),
    ("id:0000000012345678 sub:001 dlvrd:001 submit date:1601010100 done date:1601010101 stat:DELIVRD err:000 text:none",
     ("0000000012345678", "DELIVRD", "000", "none")),
    ("id:abc123 sub:001 dlvrd:001 submit date:2503040100 done date:2503040101 stat:delivrd err:0 Text:stat: in text",
     ("abc123", "DELIVRD", "0", "stat: in text")),
    ("ID:7 STAT:EXPIRED", ("7", "EXPIRED", None, None)),
]


@pytest.mark.parametrize("text,expected", RECEIPT_TEXTS)
def test_parse_receipt_text(text, expected):
    """id, stat, err and text are read in any case; the first occurrence of a key wins."""
    parsed = parse_receipt_text(text)
    assert (parsed.message_id, parsed.stat, parsed.err, parsed.text) == expected


def test_parse_receipt_text_without_fields():
    """Ordinary texts are not receipts."""
    assert parse_receipt_text("Hello, is my order ready?") is None


# (id as submit_sm_resp wrote it, id as the receipt wrote it)
SAME_ID_SPELLINGS = [
    ("1a2b", "1A2B"),
    ("1a2b", "00001a2b"),
    ("1a2b", "6699"),  # decimal of 0x1a2b
    ("6699", "1a2b"),
    ("0000006699", "6699"),
    ("00BC614E", "12345678"),
    ("12345678", "0000BC614E"),
    ("msg-77", "MSG-77"),
]


@pytest.mark.parametrize("sent,receipted", SAME_ID_SPELLINGS)
def test_tracker_matches_ids_however_written(sent, receipted):
    """A receipt matches its message whether the id is hex or decimal, any case, with leading zeros."""
    tracker = ReceiptTracker()
    tracker.register(sent, [sent])
    update = StatusUpdate(receipted, "delivered", "DELIVRD")
    matched = tracker.resolve(receipted, update)
    assert matched is not None and matched.provider_message_id == sent
    assert len(tracker) == 0  # a final receipt closes a one-part message


def test_id_keys_forms():
    """Plain key first, then numeric readings."""
    assert id_keys("00A") == ["a", "#10"]
    assert id_keys("0010") == ["10", "#16", "#10"]


def test_tracker_multi_part_reports_delivered_once_all_parts_are():
    """Parts' receipts fold into one: delivered after the last part; a failed part reports at once."""
    tracker = ReceiptTracker()
    tracker.register("a1", ["a1", "a2", "a3"])
    delivered = StatusUpdate("x", "delivered", "DELIVRD")
    assert tracker.resolve("A2", delivered) is None
    assert tracker.resolve("a1", StatusUpdate("x", "sent", "ENROUTE")).status == "sent"
    assert tracker.resolve("a1", delivered) is None
    last = tracker.resolve("a3", delivered)
    assert (last.provider_message_id, last.status) == ("a1", "delivered")

    tracker.register("b1", ["b1", "b2"])
    failed = tracker.resolve("b2", StatusUpdate("x", "undelivered", "UNDELIV", error_code="001"))
    assert (failed.provider_message_id, failed.status, failed.error_code) == ("b1", "undelivered", "001")
    assert tracker.resolve("b1", delivered) is None  # the failure already stands for the message
    assert len(tracker) == 0


def test_tracker_holds_early_receipts_until_registered():
    """A receipt that beats our bookkeeping is held and released on registration; unknown ids expire as written."""
    clock = [100.0]
    tracker = ReceiptTracker(orphan_hold_seconds=30, monotonic=lambda: clock[0])
    assert tracker.resolve("0000BC614E", StatusUpdate("0000BC614E", "delivered", "DELIVRD")) is None
    assert tracker.resolve("zz9", StatusUpdate("zz9", "delivered", "DELIVRD")) is None
    released = tracker.register("12345678", ["12345678"])
    assert [(update.provider_message_id, update.status) for update in released] == [("12345678", "delivered")]
    assert tracker.expired_orphans() == []
    clock[0] += 31
    assert [update.provider_message_id for update in tracker.expired_orphans()] == ["zz9"]


def test_tracker_forgets_oldest_beyond_capacity():
    """At most max_tracked messages are remembered."""
    tracker = ReceiptTracker(max_tracked=2)
    for number in range(3):
        tracker.register(f"m{number}", [f"m{number}"])
    assert len(tracker) == 2
    assert tracker.resolve("m0", StatusUpdate("m0", "delivered"), hold=False).provider_message_id == "m0"


def test_assembler_joins_parts_in_any_order():
    """Concatenated customer messages are joined by reference and sequence."""
    assembler = MessageAssembler()
    first = pdu.Pdu(pdu.DELIVER_SM, params={"source_addr": "1", "destination_addr": "A"})
    assert assembler.add(first, Concatenation(9, 2, 2), "world") is None
    message, text, parts = assembler.add(first, Concatenation(9, 2, 1), "hello ")
    assert (text, parts) == ("hello world", 2)


def _offline_adapter() -> SmppAdapter:
    """An adapter that never connects, for feeding PDUs by hand."""
    settings = SmppChannelSettings.from_config({"host": "127.0.0.1", "port": 1, "system_id": "acme"})
    return SmppAdapter(settings, sender_id="ACME", clock=lambda: datetime(2025, 3, 4, tzinfo=UTC), start=False)


TESTDATA_EVENTS = sorted(path.name for path in TESTDATA.glob("deliver_sm_*.json"))


@pytest.mark.parametrize("name", TESTDATA_EVENTS)
def test_recorded_deliver_sm_become_events(name):
    """Each recorded deliver_sm in testdata/ becomes the expected receipt or customer message."""
    case = json.loads((TESTDATA / name).read_text())
    adapter = _offline_adapter()
    for hex_text in case.get("hex_parts", [case.get("hex")]):
        adapter._on_deliver(pdu.decode(bytes.fromhex(hex_text)))
    expected = case["expected"]
    if case["event"] == "delivery_receipt":
        adapter.receipts.orphan_hold_seconds = 0  # nothing was sent: report the id as written
        updates = adapter.due_status_updates(datetime.now(UTC))
        assert len(updates) == 1
        update = updates[0]
        assert {key: getattr(update, key) for key in expected} == expected
        assert adapter.pending_inbound(datetime.now(UTC)) == []
    else:
        inbound = adapter.pending_inbound(datetime.now(UTC))
        assert len(inbound) == 1
        assert {key: getattr(inbound[0], key) for key in expected} == expected
        assert inbound[0].provider_message_id.startswith("smpp-mo-")


def test_tracker_learns_how_the_smsc_writes_receipt_ids():
    """Short ids can read both ways; once unambiguous receipts showed "hex answered, decimal receipted", that wins."""
    tracker = ReceiptTracker()
    tracker.register("a", ["a"])  # 10 in hex
    tracker.register("10", ["10"])  # 16 in hex, but also spelled like decimal 10
    tracker.register("ff", ["ff"])  # 255
    assert tracker.resolve("255", StatusUpdate("255", "delivered")).provider_message_id == "ff"
    assert tracker.votes["hex"] == 1
    assert tracker.resolve("10", StatusUpdate("10", "delivered")).provider_message_id == "a"
    assert tracker.resolve("16", StatusUpdate("16", "delivered")).provider_message_id == "10"


@pytest.mark.parametrize("text", ["", "Your order 17 has shipped.", "Price: 5€ {promo} @home_", "x" * 160, "€" * 80,
                                  "주문 4번이 발송되었습니다.", "😀" * 35, "가" * 70, "Η παραγγελία 2 στάλθηκε."])
def test_one_segment_texts_are_one_part_as_split_segments_says(text):
    """A text that fits one segment is one part with the same octets and coding as the splitting path gives."""
    parts = encode_parts(text, reference=7)
    assert split_segments(text) == [text]
    assert len(parts) == 1 and parts[0].esm_class == 0 and parts[0].text == text
    octets, data_coding = encode_text(text)
    assert (parts[0].short_message, parts[0].data_coding) == (octets, data_coding)
    assert decode_text(parts[0].short_message, parts[0].data_coding) == text


def test_customary_receipts_read_in_one_match_as_the_general_reading_does():
    """The one-match reading of the customary layout gives exactly what the key-by-key reading gives."""
    from mannerly.channels.smpp.shortmessage import format_receipt_text, read_receipt_keys

    moment = datetime(2026, 12, 5, 21, 13, tzinfo=UTC)
    texts = [text for text, _ in RECEIPT_TEXTS] + [
        format_receipt_text(message_id, stat, err, moment, moment, words, stat == "DELIVRD")
        for message_id in ("0005F5E1F4", "100000500", "abc-12")
        for stat, err in (("DELIVRD", "000"), ("UNDELIV", "001"), ("expired", ""))
        for words in ("Your order 12 has shipped.", "", "a stat:XX err:9 in the text", "주문 4번", "two\nlines ")
    ] + [
        "id:12 sub:001 dlvrd:001 submit date:2512052113 done date:2512052113 stat:DELIVRD err:000",
        "id: sub:001 dlvrd:001 submit date: done date: stat: err: text:",
        "  id:12 sub:001 dlvrd:001 submit date:1 done date:2 stat:DELIVRD err:000 text:x  ",
        "id:12 sub:001 dlvrd:001 submit date:1 done date:2 stat:DELIVRD  err:000 text:x",  # two spaces: general path
        "id:1 2 sub:001 dlvrd:001 submit date:1 done date:2 stat:DELIVRD err:000",
    ]
    for text in texts:
        assert parse_receipt_text(text) == read_receipt_keys(text), text


def test_tracker_registers_a_batch_under_one_lock_round_as_one_by_one():
    """register_many takes the lock once, releases every held receipt that now matches, and matches later ones."""
    tracker = ReceiptTracker()
    rounds = []
    lock = tracker._lock

    class CountingLock:
        """The tracker's lock, counting acquisitions."""

        def __enter__(self):
            rounds.append(1)
            return lock.__enter__()

        def __exit__(self, *exc):
            return lock.__exit__(*exc)

    assert tracker.resolve("0000BC614E", StatusUpdate("0000BC614E", "delivered", "DELIVRD")) is None  # 12345678
    tracker._lock = CountingLock()
    released = tracker.register_many([("12345678", ["12345678"]), ("A1", ["A1", "A2"]), ("77", ["77"])])
    assert [(update.provider_message_id, update.status) for update in released] == [("12345678", "delivered")]
    assert len(rounds) == 1 + len(released)  # one for the whole batch, one per held receipt released
    assert len(tracker) == 2  # 12345678 is final already; A1 (two parts) and 77 wait
    first = tracker.resolve("a1", StatusUpdate("a1", "delivered", "DELIVRD"))
    assert first is None  # one part of two: folded until the other arrives
    last = tracker.resolve("A2", StatusUpdate("A2", "delivered", "DELIVRD"))
    assert last is not None and last.provider_message_id == "A1"
    assert tracker.resolve("77", StatusUpdate("77", "undelivered", "UNDELIV")).provider_message_id == "77"
    assert len(tracker) == 0
