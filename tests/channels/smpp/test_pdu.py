"""The SMPP v3.4 codec: byte layouts from the specification, round trips, and smpplib as an independent encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import smpplib.smpp

from mannerly.channels.smpp import pdu

TESTDATA = Path(__file__).parents[3] / "src" / "mannerly" / "channels" / "smpp" / "testdata"


def h(text: str) -> bytes:
    """Bytes from spaced hex."""
    return bytes.fromhex(text.replace(" ", ""))


# (name, PDU to encode, expected bytes): layouts of SMPP v3.4 sections 3.2 (header), 4.1 (bind),
# 4.4 (submit_sm), 4.6 (deliver_sm_resp), 4.11 (enquire_link) and 5.3 (TLVs).
SPEC_LAYOUTS = [
    ("enquire_link", pdu.Pdu(pdu.ENQUIRE_LINK, 1), h("00000010 00000015 00000000 00000001")),
    ("enquire_link_resp", pdu.Pdu(pdu.ENQUIRE_LINK_RESP, 1), h("00000010 80000015 00000000 00000001")),
    ("unbind", pdu.Pdu(pdu.UNBIND, 0x7FFFFFFF), h("00000010 00000006 00000000 7fffffff")),
    ("generic_nack", pdu.generic_nack(9, pdu.ESME_RINVCMDID), h("00000010 80000000 00000003 00000009")),
    (
        "bind_transmitter",
        pdu.bind(pdu.BIND_TRANSMITTER, 1, "SMPP3TEST", "secret08", "SUBMIT1", 1, 1, ""),
        h("0000002f 00000002 00000000 00000001" "534d5050335445535400" "73656372657430380" "0"
          "5355424d49543100" "34 01 01" "00"),
    ),
    (
        "submit_sm (60 octets, 'Hello wikipedia')",
        pdu.Pdu(pdu.SUBMIT_SM, 5, params=pdu.short_message_params(
            source_addr="555", source_addr_ton=2, source_addr_npi=8, destination_addr="555555555",
            dest_addr_ton=1, dest_addr_npi=1, short_message=b"Hello wikipedia")),
        h("0000003c 00000004 00000000 00000005" "00" "02 08 35353500" "01 01 35353535353535353500"
          "00 00 00 00 00" "00 00 00 00" "0f 48656c6c6f2077696b697065646961"),
    ),
    ("submit_sm_resp", pdu.Pdu(pdu.SUBMIT_SM_RESP, 5, params={"message_id": "1a2B"}),
     h("00000015 80000004 00000000 00000005 31613242 00")),
    ("submit_sm_resp refused without body", pdu.Pdu(pdu.SUBMIT_SM_RESP, 6, pdu.ESME_RTHROTTLED),
     h("00000010 80000004 00000058 00000006")),
    ("deliver_sm_resp (message_id NULL)", pdu.Pdu(pdu.DELIVER_SM_RESP, 3), h("00000011 80000005 00000000 00000003 00")),
    (
        "bind_transceiver_resp with sc_interface_version TLV",
        pdu.Pdu(pdu.BIND_TRANSCEIVER_RESP, 2, params={"system_id": "SMSC"},
                tlvs={pdu.TAG_SC_INTERFACE_VERSION: b"\x34"}),
        h("0000001a 80000009 00000000 00000002 534d534300 0210 0001 34"),
    ),
]


@pytest.mark.parametrize("name,message,expected", SPEC_LAYOUTS, ids=[case[0] for case in SPEC_LAYOUTS])
def test_encode_matches_spec_layout(name, message, expected):
    """Encoding gives exactly the specification's octets, and decoding them gives the PDU back."""
    assert pdu.encode(message) == expected
    decoded = pdu.decode(expected)
    assert (decoded.command_id, decoded.command_status, decoded.sequence_number) == (
        message.command_id, message.command_status, message.sequence_number)
    for key, value in message.params.items():
        assert decoded.params[key] == value
    assert decoded.tlvs == message.tlvs


def test_deliver_sm_round_trip_with_tlvs():
    """A receipt-like deliver_sm with TLVs survives encode/decode."""
    message = pdu.Pdu(pdu.DELIVER_SM, 42, params=pdu.short_message_params(
        source_addr="821023456789", source_addr_ton=1, source_addr_npi=1, destination_addr="ACME",
        dest_addr_ton=5, esm_class=4, short_message=b"id:1 stat:DELIVRD"),
        tlvs={pdu.TAG_RECEIPTED_MESSAGE_ID: pdu.tlv_cstring_value("1"), pdu.TAG_MESSAGE_STATE: b"\x02"})
    decoded = pdu.decode(pdu.encode(message))
    assert decoded.params == message.params
    assert decoded.tlv_cstring(pdu.TAG_RECEIPTED_MESSAGE_ID) == "1"
    assert decoded.tlv_int(pdu.TAG_MESSAGE_STATE) == 2


BAD_INPUT = [
    ("shorter than a header", h("00000010 00000015"), "at least 16"),
    ("length disagrees", h("00000011 00000015 00000000 00000001"), "command_length"),
    ("C-string without NUL", h("00000015 80000004 00000000 00000005 3132333435"), "NUL"),
    ("TLV past the end", h("00000015 80000009 00000000 00000002 00 0210 0005"), "TLV"),
    ("sm_length past the end", h("00000024 00000005 00000000 00000001 00 0101 3100 0101 3200"
                                  "000000 00 00 000000 00 ff 41"), "sm_length"),
]


@pytest.mark.parametrize("name,data,message", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_decode_rejects_malformed(name, data, message):
    """Malformed PDUs raise PduError with a reason."""
    with pytest.raises(pdu.PduError, match=message):
        pdu.decode(data)


def test_encode_refuses_oversized_fields():
    """A system_id longer than 15 octets or a 255-octet short_message cannot be encoded."""
    with pytest.raises(pdu.PduError, match="system_id"):
        pdu.encode(pdu.bind(pdu.BIND_TRANSCEIVER, 1, "x" * 16, "pw"))
    with pytest.raises(pdu.PduError, match="short_message"):
        pdu.encode(pdu.Pdu(pdu.SUBMIT_SM, 1, params=pdu.short_message_params(
            source_addr="A", destination_addr="1", short_message=b"x" * 255)))


def test_split_frames_keeps_partial_pdus():
    """Frames come off the buffer whole; a partial PDU waits for the rest; a bad length is refused."""
    stream = pdu.encode(pdu.Pdu(pdu.ENQUIRE_LINK, 1)) + pdu.encode(pdu.Pdu(pdu.ENQUIRE_LINK, 2))
    buffer = bytearray(stream[:20])
    assert [pdu.decode(frame).sequence_number for frame in pdu.split_frames(buffer)] == [1]
    buffer += stream[20:]
    assert [pdu.decode(frame).sequence_number for frame in pdu.split_frames(buffer)] == [2]
    assert buffer == b""
    with pytest.raises(pdu.PduError):
        list(pdu.split_frames(bytearray(h("00000004 00000015"))))


def test_unknown_command_decodes_as_header_and_gets_generic_nack():
    """An unknown command id is kept; answering it gives generic_nack."""
    unknown = pdu.decode(h("00000014 00000099 00000000 0000000b deadbeef"))
    assert unknown.name == "0x00000099" and unknown.params == {}
    assert pdu.response_to(unknown, pdu.ESME_RINVCMDID).command_id == pdu.GENERIC_NACK


class _Sequence:
    """smpplib asks its client for sequence numbers."""

    def __init__(self, number: int) -> None:
        """Always hand out this number."""
        self.number = number

    def next_sequence(self) -> int:
        """The fixed sequence number."""
        return self.number


SMPPLIB_CASES = [
    ("bind_transceiver", dict(system_id="acme", password="secret", system_type="WWW")),
    ("submit_sm", dict(source_addr="ACME", source_addr_ton=5, destination_addr="821023456789", dest_addr_ton=1,
                       dest_addr_npi=1, esm_class=0x40, data_coding=8, registered_delivery=1,
                       short_message=bytes.fromhex("050003070201") + "안녕".encode("utf-16-be"))),
    ("deliver_sm", dict(source_addr="306912345678", destination_addr="ACME", esm_class=4,
                        short_message=b"id:00bc614e stat:DELIVRD", receipted_message_id="00bc614e",
                        message_state=2)),
    ("enquire_link", dict()),
    ("unbind", dict()),
]


@pytest.mark.parametrize("command,fields", SMPPLIB_CASES, ids=[case[0] for case in SMPPLIB_CASES])
def test_smpplib_encoding_decodes_and_reencodes_identically(command, fields):
    """Bytes produced by smpplib (an independent implementation) decode with our codec and re-encode byte for byte."""
    theirs = smpplib.smpp.make_pdu(command, client=_Sequence(77), **fields).generate()
    ours = pdu.decode(theirs)
    assert ours.name == command and ours.sequence_number == 77
    assert pdu.encode(ours) == theirs
    parsed_back = smpplib.smpp.parse_pdu(pdu.encode(ours), client=_Sequence(77))
    assert parsed_back.command == command


def test_testdata_pdus_decode_and_reencode():
    """Every recorded PDU in testdata/ decodes and re-encodes to the same octets."""
    files = sorted(TESTDATA.glob("*.json"))
    assert files
    for path in files:
        case = json.loads(path.read_text())
        for hex_text in case.get("hex_parts", [case.get("hex")]):
            data = bytes.fromhex(hex_text)
            assert pdu.encode(pdu.decode(data)) == data, path.name
