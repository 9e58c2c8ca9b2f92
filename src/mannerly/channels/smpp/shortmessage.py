"""What travels inside submit_sm/deliver_sm: encoded text parts, concatenation headers, receipts, ids.

Pure code, no I/O. Decisions:

- GSM-7 texts go as data_coding 0 (the SMSC default alphabet, which SMSCs take as
  GSM 03.38) with one unpacked septet per octet; anything else as data_coding 8,
  UCS-2 big-endian (UTF-16-BE, so emoji travel as surrogate pairs).
- Long texts are split exactly as `mannerly.kit.sms.split_segments` counts them
  (153 septets / 67 UCS-2 units per part), and each part starts with a 6-octet
  User Data Header `05 00 03 ref total seq` (IEI 0x00, 8-bit reference) with
  esm_class UDHI (0x40). Reading, we also accept IEI 0x08 (16-bit reference) and
  the sar_* TLVs.
- Message ids are compared after normalization: peers write the same id in hex
  or decimal, upper or lower case, with or without leading zeros.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from mannerly.channels.smpp import pdu
from mannerly.kit.sms import GSM_7, analyze, gsm_decode, gsm_encode, sms_size, split_segments

CONCATENATION_IEI_8BIT = 0x00
CONCATENATION_IEI_16BIT = 0x08
MAX_PARTS = 255
RECEIPT_DATE_FORMAT = "%y%m%d%H%M"


class EncodingError(ValueError):
    """A text that cannot be sent as SMS (for example more than 255 parts)."""


@dataclass(frozen=True, slots=True)
class EncodedPart:
    """One submit_sm's worth of a message: octets, data_coding and esm_class."""

    short_message: bytes
    data_coding: int
    esm_class: int
    text: str  # the characters this part carries, for logs and tests


@dataclass(frozen=True, slots=True)
class Concatenation:
    """Which part of a concatenated message a short message is."""

    reference: int
    total: int
    sequence: int


def concatenation_header(reference: int, total: int, sequence: int) -> bytes:
    """The 6-octet UDH of one part: length 5, IEI 0x00, IE length 3, reference, total, sequence."""
    return bytes((0x05, CONCATENATION_IEI_8BIT, 0x03, reference & 0xFF, total, sequence))


def encode_text(text: str) -> tuple[bytes, int]:
    """A text's octets and data_coding when sent in one piece (no UDH)."""
    if analyze(text).encoding == GSM_7:
        return gsm_encode(text), pdu.DATA_CODING_DEFAULT
    return text.encode("utf-16-be", "surrogatepass"), pdu.DATA_CODING_UCS2


def encode_parts(text: str, reference: int) -> list[EncodedPart]:
    """The submit_sm parts of a text: one without UDH, or several with a concatenation UDH each."""
    encoding, _units, segments = sms_size(text)
    if segments == 1:
        # Most texts fit one segment: measured (sms_size is cached, the engine measured this text), not split.
        if encoding == GSM_7:
            return [EncodedPart(gsm_encode(text), pdu.DATA_CODING_DEFAULT, 0, text)]
        return [EncodedPart(text.encode("utf-16-be", "surrogatepass"), pdu.DATA_CODING_UCS2, 0, text)]
    pieces = split_segments(text)
    if len(pieces) > MAX_PARTS:
        raise EncodingError(f"the text needs {len(pieces)} parts; SMS concatenation allows {MAX_PARTS}")
    gsm = analyze(text).encoding == GSM_7
    data_coding = pdu.DATA_CODING_DEFAULT if gsm else pdu.DATA_CODING_UCS2
    parts = []
    for number, piece in enumerate(pieces, start=1):
        octets = gsm_encode(piece) if gsm else piece.encode("utf-16-be", "surrogatepass")
        if len(pieces) == 1:
            parts.append(EncodedPart(octets, data_coding, 0, piece))
        else:
            header = concatenation_header(reference, len(pieces), number)
            parts.append(EncodedPart(header + octets, data_coding, pdu.ESM_CLASS_UDHI, piece))
    return parts


def split_user_data(short_message: bytes, esm_class: int) -> tuple[Concatenation | None, bytes]:
    """Separate the UDH (when esm_class has UDHI) from the text octets; returns any concatenation found."""
    if not esm_class & pdu.ESM_CLASS_UDHI or not short_message:
        return None, short_message
    header_length = short_message[0]
    header = short_message[1:1 + header_length]
    payload = short_message[1 + header_length:]
    concatenation = None
    offset = 0
    while offset + 2 <= len(header):
        iei, length = header[offset], header[offset + 1]
        value = header[offset + 2:offset + 2 + length]
        if iei == CONCATENATION_IEI_8BIT and length == 3 and len(value) == 3:
            concatenation = Concatenation(value[0], value[1], value[2])
        elif iei == CONCATENATION_IEI_16BIT and length == 4 and len(value) == 4:
            concatenation = Concatenation(int.from_bytes(value[:2], "big"), value[2], value[3])
        offset += 2 + length
    return concatenation, payload


def sar_concatenation(message: pdu.Pdu) -> Concatenation | None:
    """Concatenation given by the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs."""
    reference = message.tlv_int(pdu.TAG_SAR_MSG_REF_NUM)
    total = message.tlv_int(pdu.TAG_SAR_TOTAL_SEGMENTS)
    sequence = message.tlv_int(pdu.TAG_SAR_SEGMENT_SEQNUM)
    if reference is None or total is None or sequence is None:
        return None
    return Concatenation(reference, total, sequence)


def decode_text(octets: bytes, data_coding: int) -> str:
    """Text from short_message octets by data_coding; unsupported codings read as Latin-1."""
    if data_coding == pdu.DATA_CODING_DEFAULT:
        return gsm_decode(octets)
    if data_coding == pdu.DATA_CODING_UCS2:
        return octets.decode("utf-16-be", "replace")
    if data_coding == pdu.DATA_CODING_ASCII:
        return octets.decode("ascii", "replace")
    return octets.decode("latin-1")


# -- delivery receipts ----------------------------------------------------------------------------

_RECEIPT_KEYS = re.compile(r"(?i)\b(id|sub|dlvrd|submit date|done date|stat|err|text):")


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """The fields of a delivery receipt's `id:... sub:... stat:...` text (any of them may be missing)."""

    message_id: str | None
    stat: str | None
    err: str | None
    submitted: str | None = None
    delivered: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None


# The customary layout (SMPP v3.4 appendix B) exactly, values without spaces or colons: read in one match.
_CUSTOMARY_RECEIPT = re.compile(
    r"id:([^\s:]*) sub:([^\s:]*) dlvrd:([^\s:]*) submit date:([^\s:]*) done date:([^\s:]*)"
    r" stat:([^\s:]*) err:([^\s:]*)(?: text:(.*))?", re.DOTALL)


def parse_receipt_text(text: str) -> ReceiptText | None:
    """The fields of a receipt text; None when it has neither an id nor a stat."""
    customary = _CUSTOMARY_RECEIPT.fullmatch(text.strip())
    if customary is not None:
        # What the general reading below gives for this layout, without a search per key.
        message_id, submitted, delivered, submit_date, done_date, stat, err, words = customary.groups()
        return ReceiptText(message_id=message_id or None, stat=stat.upper() or None, err=err or None,
                           submitted=submitted, delivered=delivered, submit_date=submit_date, done_date=done_date,
                           text=None if words is None else words.strip())
    return read_receipt_keys(text)


def read_receipt_keys(text: str) -> ReceiptText | None:
    """parse_receipt_text for any layout: keys in any case and order, the first occurrence of each winning."""
    matches = list(_RECEIPT_KEYS.finditer(text))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        key = match.group(1).lower()
        # `text:` comes last and is the message's own words, which may contain "stat:" and the like.
        last = key == "text" or index + 1 == len(matches)
        end = len(text) if last else matches[index + 1].start()
        if key not in fields:
            fields[key] = text[match.end():end].strip()
        if key == "text":
            break
    if "id" not in fields and "stat" not in fields:
        return None
    return ReceiptText(
        message_id=fields.get("id") or None,
        stat=(fields.get("stat") or "").upper() or None,
        err=fields.get("err") or None,
        submitted=fields.get("sub"),
        delivered=fields.get("dlvrd"),
        submit_date=fields.get("submit date"),
        done_date=fields.get("done date"),
        text=fields.get("text"),
    )


def format_receipt_text(message_id: str, stat: str, err: str, submitted_at: datetime, done_at: datetime,
                        text: str, delivered: bool) -> str:
    """A receipt text in the customary format of the SMPP v3.4 appendix (first 20 characters of the text)."""
    return (
        f"id:{message_id} sub:001 dlvrd:{'001' if delivered else '000'} "
        f"submit date:{submitted_at.astimezone(UTC).strftime(RECEIPT_DATE_FORMAT)} "
        f"done date:{done_at.astimezone(UTC).strftime(RECEIPT_DATE_FORMAT)} "
        f"stat:{stat} err:{err} text:{text[:20]}"
    )


# -- message id matching -----------------------------------------------------------------------------


def plain_id_key(message_id: str) -> str:
    """An id trimmed, lower-cased and without leading zeros ("0" stays "0")."""
    return message_id.strip().lower().lstrip("0") or "0"


def numeric_id_keys(message_id: str) -> list[str]:
    """The id read as a hexadecimal and as a decimal number, where it is one, as lookup keys."""
    keys: list[str] = []
    text = message_id.strip()
    for base in (16, 10):
        try:
            key = f"#{int(text, base)}"
        except ValueError:
            continue
        if key not in keys:
            keys.append(key)
    return keys


def id_keys(message_id: str) -> list[str]:
    """Every key an id is known by: the plain form first, then its numeric readings."""
    return [plain_id_key(message_id), *numeric_id_keys(message_id)]
