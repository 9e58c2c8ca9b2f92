"""SMPP v3.4 PDU codec: the 16-octet header, the mandatory body fields of each command, and TLVs.

Pure code, no I/O. A PDU is `command_length, command_id, command_status, sequence_number`
(four big-endian unsigned 32-bit integers) followed by the command's mandatory
parameters in a fixed order and then optional TLVs (tag: 2 octets, length: 2 octets,
value). Mandatory parameters are 1-octet integers, C-Octet strings (ASCII ending in NUL,
with a maximum size that counts the NUL) or, for submit_sm/deliver_sm, `short_message`
whose length travels in the octet before it (`sm_length`).

Decisions: a response with a non-zero command_status may come without a body (the
specification allows it), so decoding stops quietly when the body ends between
mandatory fields and leaves the missing ones at their defaults. Unknown TLV tags are
kept as raw bytes; unknown command ids decode as header only so the peer can answer
them with generic_nack.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
# Far above any PDU this codec builds (a submit_sm is at most a few hundred octets);
# a larger length means the stream is out of step or hostile.
MAX_COMMAND_LENGTH = 64 * 1024
RESPONSE_BIT = 0x80000000
INTERFACE_VERSION_34 = 0x34

# -- command ids (SMPP v3.4 section 5.1.2.1) -----------------------------------------------

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_RECEIVER_RESP = 0x80000001
BIND_TRANSMITTER = 0x00000002
BIND_TRANSMITTER_RESP = 0x80000002
QUERY_SM = 0x00000003
QUERY_SM_RESP = 0x80000003
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
REPLACE_SM = 0x00000007
CANCEL_SM = 0x00000008
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
OUTBIND = 0x0000000B
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
SUBMIT_MULTI = 0x00000021
ALERT_NOTIFICATION = 0x00000102
DATA_SM = 0x00000103

COMMAND_NAMES: dict[int, str] = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver",
    BIND_RECEIVER_RESP: "bind_receiver_resp",
    BIND_TRANSMITTER: "bind_transmitter",
    BIND_TRANSMITTER_RESP: "bind_transmitter_resp",
    QUERY_SM: "query_sm",
    QUERY_SM_RESP: "query_sm_resp",
    SUBMIT_SM: "submit_sm",
    SUBMIT_SM_RESP: "submit_sm_resp",
    DELIVER_SM: "deliver_sm",
    DELIVER_SM_RESP: "deliver_sm_resp",
    UNBIND: "unbind",
    UNBIND_RESP: "unbind_resp",
    REPLACE_SM: "replace_sm",
    CANCEL_SM: "cancel_sm",
    BIND_TRANSCEIVER: "bind_transceiver",
    BIND_TRANSCEIVER_RESP: "bind_transceiver_resp",
    OUTBIND: "outbind",
    ENQUIRE_LINK: "enquire_link",
    ENQUIRE_LINK_RESP: "enquire_link_resp",
    SUBMIT_MULTI: "submit_multi",
    ALERT_NOTIFICATION: "alert_notification",
    DATA_SM: "data_sm",
}

# -- command_status values (section 5.1.3) -----------------------------------------------

ESME_ROK = 0x00000000
ESME_RINVMSGLEN = 0x00000001
ESME_RINVCMDLEN = 0x00000002
ESME_RINVCMDID = 0x00000003
ESME_RINVBNDSTS = 0x00000004
ESME_RALYBND = 0x00000005
ESME_RSYSERR = 0x00000008
ESME_RINVSRCADR = 0x0000000A
ESME_RINVDSTADR = 0x0000000B
ESME_RINVMSGID = 0x0000000C
ESME_RBINDFAIL = 0x0000000D
ESME_RINVPASWD = 0x0000000E
ESME_RINVSYSID = 0x0000000F
ESME_RMSGQFUL = 0x00000014
ESME_RINVESMCLASS = 0x00000043
ESME_RSUBMITFAIL = 0x00000045
ESME_RTHROTTLED = 0x00000058
ESME_RQUERYFAIL = 0x00000067
ESME_RX_T_APPN = 0x00000064
ESME_RX_P_APPN = 0x00000065
ESME_RX_R_APPN = 0x00000066
ESME_RUNKNOWNERR = 0x000000FF

STATUS_NAMES: dict[int, str] = {
    ESME_ROK: "ESME_ROK",
    ESME_RINVMSGLEN: "ESME_RINVMSGLEN",
    ESME_RINVCMDLEN: "ESME_RINVCMDLEN",
    ESME_RINVCMDID: "ESME_RINVCMDID",
    ESME_RINVBNDSTS: "ESME_RINVBNDSTS",
    ESME_RALYBND: "ESME_RALYBND",
    ESME_RSYSERR: "ESME_RSYSERR",
    ESME_RINVSRCADR: "ESME_RINVSRCADR",
    ESME_RINVDSTADR: "ESME_RINVDSTADR",
    ESME_RINVMSGID: "ESME_RINVMSGID",
    ESME_RBINDFAIL: "ESME_RBINDFAIL",
    ESME_RINVPASWD: "ESME_RINVPASWD",
    ESME_RINVSYSID: "ESME_RINVSYSID",
    ESME_RMSGQFUL: "ESME_RMSGQFUL",
    ESME_RINVESMCLASS: "ESME_RINVESMCLASS",
    ESME_RSUBMITFAIL: "ESME_RSUBMITFAIL",
    ESME_RTHROTTLED: "ESME_RTHROTTLED",
    ESME_RQUERYFAIL: "ESME_RQUERYFAIL",
    ESME_RX_T_APPN: "ESME_RX_T_APPN",
    ESME_RX_P_APPN: "ESME_RX_P_APPN",
    ESME_RX_R_APPN: "ESME_RX_R_APPN",
    ESME_RUNKNOWNERR: "ESME_RUNKNOWNERR",
}

# -- TLV tags (section 5.3.2) --------------------------------------------------------------

TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_USER_MESSAGE_REFERENCE = 0x0204
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_SC_INTERFACE_VERSION = 0x0210
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

# -- field values ----------------------------------------------------------------------------

ESM_CLASS_UDHI = 0x40  # short_message starts with a User Data Header
ESM_CLASS_TYPE_MASK = 0x3C  # bits 5..2: message type
ESM_CLASS_DELIVERY_RECEIPT = 0x04  # SMSC delivery receipt
ESM_CLASS_INTERMEDIATE_NOTIFICATION = 0x20
DATA_CODING_DEFAULT = 0x00  # SMSC default alphabet (GSM 03.38 here)
DATA_CODING_ASCII = 0x01
DATA_CODING_LATIN1 = 0x03
DATA_CODING_UCS2 = 0x08
TON_UNKNOWN = 0
TON_INTERNATIONAL = 1
TON_NATIONAL = 2
TON_ALPHANUMERIC = 5
NPI_UNKNOWN = 0
NPI_ISDN = 1

# message_state (section 5.2.28) and the receipt's `stat:` words it corresponds to.
MESSAGE_STATES: dict[int, str] = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
STATE_BY_WORD: dict[str, int] = {word: state for state, word in MESSAGE_STATES.items()}


class PduError(ValueError):
    """Bytes that are not a valid SMPP v3.4 PDU (or values that cannot be encoded)."""


# Mandatory body layouts: (name, kind, maximum size). Kinds: "c" C-Octet string (size
# includes the NUL), "u1" one-octet integer, "sm" short_message preceded by sm_length.
_BIND = (
    ("system_id", "c", 16), ("password", "c", 9), ("system_type", "c", 13),
    ("interface_version", "u1", 1), ("addr_ton", "u1", 1), ("addr_npi", "u1", 1),
    ("address_range", "c", 41),
)
_SHORT_MESSAGE = (
    ("service_type", "c", 6),
    ("source_addr_ton", "u1", 1), ("source_addr_npi", "u1", 1), ("source_addr", "c", 21),
    ("dest_addr_ton", "u1", 1), ("dest_addr_npi", "u1", 1), ("destination_addr", "c", 21),
    ("esm_class", "u1", 1), ("protocol_id", "u1", 1), ("priority_flag", "u1", 1),
    ("schedule_delivery_time", "c", 17), ("validity_period", "c", 17),
    ("registered_delivery", "u1", 1), ("replace_if_present_flag", "u1", 1),
    ("data_coding", "u1", 1), ("sm_default_msg_id", "u1", 1), ("short_message", "sm", 254),
)
BODY_LAYOUTS: dict[int, tuple[tuple[str, str, int], ...]] = {
    BIND_RECEIVER: _BIND,
    BIND_TRANSMITTER: _BIND,
    BIND_TRANSCEIVER: _BIND,
    BIND_RECEIVER_RESP: (("system_id", "c", 16),),
    BIND_TRANSMITTER_RESP: (("system_id", "c", 16),),
    BIND_TRANSCEIVER_RESP: (("system_id", "c", 16),),
    SUBMIT_SM: _SHORT_MESSAGE,
    DELIVER_SM: _SHORT_MESSAGE,
    SUBMIT_SM_RESP: (("message_id", "c", 65),),
    DELIVER_SM_RESP: (("message_id", "c", 65),),
    QUERY_SM: (
        ("message_id", "c", 65), ("source_addr_ton", "u1", 1), ("source_addr_npi", "u1", 1),
        ("source_addr", "c", 21),
    ),
    QUERY_SM_RESP: (
        ("message_id", "c", 65), ("final_date", "c", 17), ("message_state", "u1", 1), ("error_code", "u1", 1),
    ),
    OUTBIND: (("system_id", "c", 16), ("password", "c", 9)),
    GENERIC_NACK: (),
    UNBIND: (),
    UNBIND_RESP: (),
    ENQUIRE_LINK: (),
    ENQUIRE_LINK_RESP: (),
}
# Responses that carry no body at all when command_status is an error.
_BODYLESS_ON_ERROR = frozenset({SUBMIT_SM_RESP, BIND_RECEIVER_RESP, BIND_TRANSMITTER_RESP,
                                BIND_TRANSCEIVER_RESP, QUERY_SM_RESP})


@dataclass(slots=True)
class Pdu:
    """One SMPP PDU: header values, mandatory parameters by name, TLVs by tag (raw value bytes)."""

    command_id: int
    sequence_number: int = 0
    command_status: int = ESME_ROK
    params: dict[str, Any] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The command's name, e.g. "submit_sm", or its id in hex when unknown."""
        return COMMAND_NAMES.get(self.command_id, f"0x{self.command_id:08x}")

    @property
    def is_response(self) -> bool:
        """True for response PDUs (the high bit of command_id is set)."""
        return bool(self.command_id & RESPONSE_BIT)

    def get(self, name: str, default: Any = None) -> Any:
        """A mandatory parameter's value, or the default when absent."""
        return self.params.get(name, default)

    def tlv_int(self, tag: int) -> int | None:
        """A TLV read as a big-endian unsigned integer, or None when absent or empty."""
        value = self.tlvs.get(tag)
        return int.from_bytes(value, "big") if value else None

    def tlv_cstring(self, tag: int) -> str | None:
        """A TLV read as a C-Octet string (the trailing NUL dropped), or None when absent."""
        value = self.tlvs.get(tag)
        if value is None:
            return None
        return value.split(b"\x00", 1)[0].decode("latin-1")


def status_name(status: int) -> str:
    """A command_status as its ESME_* name, or in hex when unnamed."""
    return STATUS_NAMES.get(status, f"0x{status:08X}")


def response_id(command_id: int) -> int:
    """The command_id of the response to a request command."""
    return command_id | RESPONSE_BIT


def tlv_int_value(value: int, size: int) -> bytes:
    """An integer TLV value of `size` octets."""
    return value.to_bytes(size, "big")


def tlv_cstring_value(value: str) -> bytes:
    """A C-Octet string TLV value (with its NUL)."""
    return value.encode("ascii") + b"\x00"


# -- encoding ----------------------------------------------------------------------------------


def _encode_cstring(name: str, value: Any, size: int) -> bytes:
    """A C-Octet string field; raises PduError when it does not fit its maximum size."""
    text = "" if value is None else str(value)
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise PduError(f"{name} must be ASCII: {text!r}") from None
    if b"\x00" in raw or len(raw) + 1 > size:
        raise PduError(f"{name} is longer than {size - 1} octets: {text!r}")
    return raw + b"\x00"


def encode_body(command_id: int, params: dict[str, Any], tlvs: dict[int, bytes]) -> bytes:
    """The body (mandatory parameters then TLVs) of a PDU."""
    layout = BODY_LAYOUTS.get(command_id)
    if layout is None:
        raise PduError(f"no body layout for command 0x{command_id:08x}")
    parts: list[bytes] = []
    for name, kind, size in layout:
        value = params.get(name)
        if kind == "c":
            parts.append(_encode_cstring(name, value, size))
        elif kind == "u1":
            number = int(value or 0)
            if not 0 <= number <= 0xFF:
                raise PduError(f"{name} must fit one octet: {number}")
            parts.append(bytes((number,)))
        else:  # "sm": sm_length then the octets
            data = bytes(value or b"")
            if len(data) > size:
                raise PduError(f"short_message is {len(data)} octets; at most {size} fit (use message_payload)")
            parts.append(bytes((len(data),)) + data)
    for tag, value in tlvs.items():
        if len(value) > 0xFFFF:
            raise PduError(f"TLV 0x{tag:04x} is too long")
        parts.append(struct.pack(">HH", tag, len(value)) + value)
    return b"".join(parts)


def encode(pdu: Pdu) -> bytes:
    """The wire bytes of a PDU, header included."""
    if pdu.command_status != ESME_ROK and pdu.command_id in _BODYLESS_ON_ERROR and not pdu.params and not pdu.tlvs:
        body = b""
    else:
        body = encode_body(pdu.command_id, pdu.params, pdu.tlvs)
    length = HEADER_SIZE + len(body)
    return HEADER.pack(length, pdu.command_id, pdu.command_status, pdu.sequence_number) + body


# -- decoding ----------------------------------------------------------------------------------


def _decode_cstring(body: bytes, offset: int, name: str, size: int) -> tuple[str, int]:
    """Read a C-Octet string at offset; returns the text and the offset after its NUL."""
    end = body.find(b"\x00", offset, offset + size)
    if end < 0:
        raise PduError(f"{name} has no NUL terminator within {size} octets")
    return body[offset:end].decode("latin-1"), end + 1


def decode_tlvs(data: bytes) -> dict[int, bytes]:
    """TLVs from the octets after the mandatory parameters."""
    tlvs: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise PduError("truncated TLV header")
        tag, length = struct.unpack_from(">HH", data, offset)
        offset += 4
        if offset + length > len(data):
            raise PduError(f"TLV 0x{tag:04x} claims {length} octets; {len(data) - offset} remain")
        tlvs[tag] = data[offset:offset + length]
        offset += length
    return tlvs


def decode_body(command_id: int, body: bytes) -> tuple[dict[str, Any], dict[int, bytes]]:
    """Mandatory parameters and TLVs from a PDU body; unknown commands give nothing."""
    layout = BODY_LAYOUTS.get(command_id)
    if layout is None:
        return {}, {}
    params: dict[str, Any] = {}
    offset = 0
    for name, kind, size in layout:
        if offset >= len(body):
            break  # an error response may omit its body
        if kind == "c":
            params[name], offset = _decode_cstring(body, offset, name, size)
        elif kind == "u1":
            params[name] = body[offset]
            offset += 1
        else:
            length = body[offset]
            offset += 1
            if offset + length > len(body):
                raise PduError(f"sm_length {length} runs past the end of the PDU")
            params[name] = body[offset:offset + length]
            offset += length
    return params, decode_tlvs(body[offset:])


def decode(data: bytes) -> Pdu:
    """A PDU from exactly one PDU's bytes (as framed by `split_frames` or a stream reader)."""
    if len(data) < HEADER_SIZE:
        raise PduError(f"a PDU has at least {HEADER_SIZE} octets; got {len(data)}")
    length, command_id, command_status, sequence_number = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length says {length} octets; got {len(data)}")
    params, tlvs = decode_body(command_id, data[HEADER_SIZE:])
    return Pdu(command_id, sequence_number, command_status, params, tlvs)


def frame_length(header: bytes) -> int:
    """The command_length from the first four octets; raises PduError when impossible."""
    length = int.from_bytes(header[:4], "big")
    if length < HEADER_SIZE or length > MAX_COMMAND_LENGTH:
        raise PduError(f"invalid command_length {length}")
    return length


def split_frames(buffer: bytearray) -> Iterator[bytes]:
    """Take every complete PDU off the front of a receive buffer (which keeps the rest)."""
    while len(buffer) >= 4:
        length = frame_length(buffer)
        if len(buffer) < length:
            return
        frame = bytes(buffer[:length])
        del buffer[:length]
        yield frame


# -- builders for the PDUs both sides use -------------------------------------------------------


def bind(command_id: int, sequence_number: int, system_id: str, password: str, system_type: str = "",
         addr_ton: int = 0, addr_npi: int = 0, address_range: str = "") -> Pdu:
    """A bind_transceiver/transmitter/receiver request."""
    return Pdu(command_id, sequence_number, params={
        "system_id": system_id, "password": password, "system_type": system_type,
        "interface_version": INTERFACE_VERSION_34, "addr_ton": addr_ton, "addr_npi": addr_npi,
        "address_range": address_range,
    })


def short_message_params(*, source_addr: str, destination_addr: str, short_message: bytes, data_coding: int = 0,
                         esm_class: int = 0, registered_delivery: int = 0, source_addr_ton: int = 0,
                         source_addr_npi: int = 0, dest_addr_ton: int = 0, dest_addr_npi: int = 0,
                         service_type: str = "", protocol_id: int = 0, priority_flag: int = 0,
                         validity_period: str = "") -> dict[str, Any]:
    """The mandatory parameters of a submit_sm or deliver_sm."""
    return {
        "service_type": service_type,
        "source_addr_ton": source_addr_ton, "source_addr_npi": source_addr_npi, "source_addr": source_addr,
        "dest_addr_ton": dest_addr_ton, "dest_addr_npi": dest_addr_npi, "destination_addr": destination_addr,
        "esm_class": esm_class, "protocol_id": protocol_id, "priority_flag": priority_flag,
        "schedule_delivery_time": "", "validity_period": validity_period,
        "registered_delivery": registered_delivery, "replace_if_present_flag": 0,
        "data_coding": data_coding, "sm_default_msg_id": 0, "short_message": short_message,
    }


def response_to(request: Pdu, command_status: int = ESME_ROK, **params: Any) -> Pdu:
    """The response PDU to a request (same sequence_number)."""
    command_id = response_id(request.command_id)
    if command_id not in BODY_LAYOUTS:  # a command this codec cannot answer properly
        command_id = GENERIC_NACK
    return Pdu(command_id, request.sequence_number, command_status, dict(params))


def generic_nack(sequence_number: int, command_status: int) -> Pdu:
    """A generic_nack (an unknown command, or a PDU that could not be read)."""
    return Pdu(GENERIC_NACK, sequence_number, command_status)
