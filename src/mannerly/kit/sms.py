"""SMS encoding and segments: GSM 03.38 (GSM-7) versus UCS-2, and how a text splits.

Pure functions, no I/O. Decisions worth knowing:

- A text is GSM-7 when every character is in the GSM 03.38 basic table or its
  extension table; extension characters (^ { } \\ [ ~ ] | € and form feed) cost
  two septets because they are sent as ESC + code. Anything else forces UCS-2.
- UCS-2 units are UTF-16 code units, as operators really send them: a
  character outside the Basic Multilingual Plane (most emoji) costs two.
- One segment holds 160 septets / 70 UCS-2 units. Longer texts are sent as a
  concatenated message whose parts hold 153 septets / 67 units (the rest is the
  user data header). Parts are packed greedily and never split an escape pair
  or a surrogate pair, so a part can end one unit short of the maximum.
- The empty text is GSM-7 with 0 units and 1 segment: sending it would still
  cost one message, and `split_segments("")` returns `[""]` to stay consistent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

SINGLE_GSM_UNITS = 160
MULTI_GSM_UNITS = 153
SINGLE_UCS2_UNITS = 70
MULTI_UCS2_UNITS = 67

ESCAPE = 0x1B

# GSM 03.38 basic character set, in code order 0x00..0x7F; 0x1B is the escape
# to the extension table and is never a character of its own.
_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
BASIC_CODES: dict[str, int] = {char: code for code, char in enumerate(_BASIC_TABLE) if code != ESCAPE}

# GSM 03.38 extension table: sent as ESC followed by this code.
EXTENSION_CODES: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

# Look-alikes that have a GSM spelling. Checked before the generic
# decomposition below because these characters do not decompose.
_EXPLICIT_REPLACEMENTS: dict[str, str] = {
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'", "´": "'",
    "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "«": '"', "»": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
    "…": "...",
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ", "\u200a": " ",
    "\u2002": " ", "\u2003": " ", "\t": " ",
    # Invisible characters: dropping them changes nothing the reader sees.
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "•": "-", "·": ".", "×": "x",
    "œ": "oe", "Œ": "OE",
    # Greek capitals that look like Latin ones: Greek businesses write in
    # capitals precisely so the message stays GSM-7.
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K",
    "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "Ά": "A", "Έ": "E", "Ή": "H", "Ί": "I", "Ό": "O", "Ύ": "Y", "Ώ": "Ω",
    "Ϊ": "I", "Ϋ": "Y",
}


_GSM_CHARS = frozenset(BASIC_CODES) | frozenset(EXTENSION_CODES)
# Extension characters cost two septets; counted with one regex instead of a loop.
_EXTENSION_CHAR = re.compile("[" + "".join(re.escape(char) for char in EXTENSION_CODES) + "]")


class NotGsmEncodableError(ValueError):
    """Raised when a text contains characters outside GSM 03.38."""

    def __init__(self, characters: tuple[str, ...]):
        self.characters = characters
        shown = ", ".join(repr(char) for char in characters)
        super().__init__(f"not encodable in GSM-7: {shown}")


@dataclass(frozen=True)
class SmsInfo:
    """How a text travels as SMS: its encoding, size and cost in segments."""

    encoding: str  # GSM_7 or UCS_2
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    # Characters forcing UCS-2, once each in order of appearance, with a GSM
    # replacement ("" means simply drop it) or None when there is none.
    non_gsm_chars: tuple[tuple[str, str | None], ...] = ()


def is_gsm_char(char: str) -> bool:
    """True when one character is in the GSM 03.38 basic or extension table."""
    return char in BASIC_CODES or char in EXTENSION_CODES


@lru_cache(maxsize=4096)
def gsm_replacement(char: str) -> str | None:
    """A GSM-7 spelling for a non-GSM character, or None when there is none."""
    if is_gsm_char(char):
        return char
    if char in _EXPLICIT_REPLACEMENTS:
        return _EXPLICIT_REPLACEMENTS[char]
    # Accented Latin letters and compatibility forms (full-width signs, "…",
    # ligatures): decompose, drop the accents and keep the result if it is GSM.
    decomposed = unicodedata.normalize("NFKD", char)
    stripped = "".join(part for part in decomposed if not unicodedata.combining(part))
    if stripped and stripped != char and all(is_gsm_char(part) for part in stripped):
        return stripped
    return None


# Memo: non-GSM character -> (character, its GSM replacement), the pairs SmsInfo lists.
_REPLACEMENT_PAIRS: dict[str, tuple[str, str | None]] = {}
_REPLACEMENT_PAIRS_LIMIT = 20_000


def _replacement_pair(char: str) -> tuple[str, str | None]:
    """(char, gsm_replacement(char)), computed once per character."""
    if len(_REPLACEMENT_PAIRS) >= _REPLACEMENT_PAIRS_LIMIT:
        _REPLACEMENT_PAIRS.clear()  # keeps the memo bounded
    pair = _REPLACEMENT_PAIRS[char] = (char, gsm_replacement(char))
    return pair


def non_gsm_characters(text: str) -> tuple[tuple[str, str | None], ...]:
    """The distinct characters that force UCS-2, with their GSM replacement if any."""
    # dict.fromkeys keeps each character once, in order of first appearance.
    distinct = [char for char in dict.fromkeys(text) if char not in _GSM_CHARS]
    known = _REPLACEMENT_PAIRS.get
    return tuple([known(char) or _replacement_pair(char) for char in distinct])


def apply_gsm_replacements(text: str) -> str:
    """The text with every replaceable non-GSM character swapped for its GSM spelling."""
    pieces = []
    for char in text:
        replacement = gsm_replacement(char)
        pieces.append(char if replacement is None else replacement)
    return "".join(pieces)


def _gsm_unit_cost(char: str) -> int:
    """Septets one GSM character costs."""
    return 2 if char in EXTENSION_CODES else 1


def _ucs2_unit_cost(char: str) -> int:
    """UTF-16 code units one character costs."""
    return 2 if ord(char) > 0xFFFF else 1


def _pack(text: str, unit_cost: Callable[[str], int], single_limit: int, multi_limit: int) -> list[str]:
    """Split a text into segments without cutting a character's units apart."""
    total = sum(unit_cost(char) for char in text)
    if total <= single_limit:
        return [text]
    segments: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        cost = unit_cost(char)
        if used + cost > multi_limit:
            segments.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += cost
    if current:
        segments.append("".join(current))
    return segments


def _is_gsm_text(text: str) -> bool:
    """True when the whole text can be sent as GSM-7."""
    return _GSM_CHARS.issuperset(text)


def _gsm_units(text: str) -> int:
    """Septets a GSM-7 text costs (extension characters take two)."""
    return len(text) + len(_EXTENSION_CHAR.findall(text))


# The ASCII bytes of GSM 03.38 (basic and extension tables), and those of the extension table.
_GSM_ASCII_BYTES = bytes(sorted(ord(char) for char in _GSM_CHARS if char.isascii()))
_EXTENSION_ASCII_BYTES = bytes(sorted(ord(char) for char in EXTENSION_CODES if char.isascii()))


def _gsm_size(text: str) -> int | None:
    """Septets the text costs as GSM-7, or None when it cannot be sent as GSM-7."""
    if text.isascii():
        # Most texts: deleting known bytes counts at C speed instead of a lookup per character.
        data = text.encode("ascii")
        if data.translate(None, _GSM_ASCII_BYTES):
            return None  # some byte is not GSM (a control character or "`")
        return len(data) + len(data) - len(data.translate(None, _EXTENSION_ASCII_BYTES))
    if not _is_gsm_text(text):
        return None
    return _gsm_units(text)


def _ucs2_units(text: str) -> int:
    """UTF-16 code units a text costs (characters outside the BMP take two; a lone surrogate one)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _segment_count(text: str, units: int, unit_cost: Callable[[str], int], single_limit: int, multi_limit: int) -> int:
    """How many segments _pack would cut the text into, without building them when it can."""
    if units <= single_limit:
        return 1
    if units == len(text):
        # Every character costs one unit, so the greedy packing fills each part completely.
        return -(-units // multi_limit)
    return len(_pack(text, unit_cost, single_limit, multi_limit))


def split_segments(text: str) -> list[str]:
    """The texts of the SMS segments this message is sent as, in order."""
    if _is_gsm_text(text):
        return _pack(text, _gsm_unit_cost, SINGLE_GSM_UNITS, MULTI_GSM_UNITS)
    return _pack(text, _ucs2_unit_cost, SINGLE_UCS2_UNITS, MULTI_UCS2_UNITS)


@lru_cache(maxsize=256)
def sms_size(text: str) -> tuple[str, int, int]:
    """Encoding, units and segment count of a text: analyze() without the list of characters."""
    # Cached: lint measures the same final text several times per decision.
    units = _gsm_size(text)
    if units is not None:
        return GSM_7, units, _segment_count(text, units, _gsm_unit_cost, SINGLE_GSM_UNITS, MULTI_GSM_UNITS)
    units = _ucs2_units(text)
    return UCS_2, units, _segment_count(text, units, _ucs2_unit_cost, SINGLE_UCS2_UNITS, MULTI_UCS2_UNITS)


@lru_cache(maxsize=256)
def analyze(text: str) -> SmsInfo:
    """Encoding, units, segment count and UCS-2-forcing characters of a text."""
    encoding, units, segments = sms_size(text)
    if encoding == GSM_7:
        return SmsInfo(encoding=GSM_7, units=units, segments=segments)
    return SmsInfo(encoding=UCS_2, units=units, segments=segments, non_gsm_chars=non_gsm_characters(text))


def first_irreplaceable_char(text: str) -> str | None:
    """The first character of the text that forces UCS-2 and has no GSM replacement, or None."""
    # Stops at the first such character, so it is quick for Korean or Greek text.
    for char in text:
        if char not in _GSM_CHARS and gsm_replacement(char) is None:
            return char
    return None


# ASCII bytes whose GSM 03.38 basic code is the same number ("@", "$", "_", "[" ... are not).
_SAME_AS_ASCII = bytes(sorted(code for char, code in BASIC_CODES.items() if char.isascii() and ord(char) == code))


def gsm_encode(text: str) -> bytes:
    """Unpacked GSM-7 septets, one byte each, extension characters as 0x1B + code."""
    if text.isascii():
        data = text.encode("ascii")
        if not data.translate(None, _SAME_AS_ASCII):
            return data  # every character's septet is its ASCII code: no lookup per character
    missing = tuple(char for char, _ in non_gsm_characters(text))
    if missing:
        raise NotGsmEncodableError(missing)
    encoded = bytearray()
    for char in text:
        if char in EXTENSION_CODES:
            encoded.append(ESCAPE)
            encoded.append(EXTENSION_CODES[char])
        else:
            encoded.append(BASIC_CODES[char])
    return bytes(encoded)


_BASIC_CHARS_BY_CODE = {code: char for char, code in BASIC_CODES.items()}
_EXTENSION_CHARS_BY_CODE = {code: char for char, code in EXTENSION_CODES.items()}


def gsm_decode(data: bytes) -> str:
    """Text from unpacked GSM-7 septets; an unknown escape code reads as its basic character."""
    if not data.translate(None, _SAME_AS_ASCII):
        return data.decode("ascii")  # every septet is the ASCII code of its character (receipts, most texts)
    chars: list[str] = []
    index = 0
    while index < len(data):
        code = data[index] & 0x7F
        if code == ESCAPE and index + 1 < len(data):
            next_code = data[index + 1] & 0x7F
            # GSM 03.38: an escape followed by an undefined code shows the basic character.
            chars.append(_EXTENSION_CHARS_BY_CODE.get(next_code, _BASIC_CHARS_BY_CODE.get(next_code, " ")))
            index += 2
            continue
        # A lone trailing escape is shown as a space, as handsets do.
        chars.append(_BASIC_CHARS_BY_CODE.get(code, " "))
        index += 1
    return "".join(chars)
