"""Tests for GSM-7 / UCS-2 detection, unit counting and segment packing."""

import pytest

from mannerly.kit.sms import (
    GSM_7,
    UCS_2,
    NotGsmEncodableError,
    analyze,
    apply_gsm_replacements,
    gsm_decode,
    gsm_encode,
    split_segments,
)

# Every basic-table character that is not an ASCII letter or digit: one septet each.
BASIC_NON_ALNUM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà"

# (text, encoding, units, segments)
SIZE_CASES = [
    ("", GSM_7, 0, 1),
    ("a" * 160, GSM_7, 160, 1),
    ("a" * 161, GSM_7, 161, 2),
    ("a" * 306, GSM_7, 306, 2),
    ("a" * 307, GSM_7, 307, 3),
    ("a" * 459, GSM_7, 459, 3),
    ("a" * 460, GSM_7, 460, 4),
    ("€" * 80, GSM_7, 160, 1),
    ("€" * 81, GSM_7, 162, 2),
    ("{}[]~|^\\\f", GSM_7, 18, 1),
    (BASIC_NON_ALNUM, GSM_7, len(BASIC_NON_ALNUM), 1),
    ("ΔΦΓΛΩΠΨΣΘΞ", GSM_7, 10, 1),
    ("가" * 70, UCS_2, 70, 1),
    ("가" * 71, UCS_2, 71, 2),
    ("가" * 134, UCS_2, 134, 2),
    ("가" * 135, UCS_2, 135, 3),
    ("😀" * 35, UCS_2, 70, 1),
    ("😀" * 36, UCS_2, 72, 2),
    ("Καλημέρα", UCS_2, 8, 1),
    ("Selamat pagi, pesanan Anda sudah dikirim.", GSM_7, 41, 1),
    ("Don’t forget", UCS_2, 12, 1),
    ("Tab\there", UCS_2, 8, 1),
]


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), SIZE_CASES)
def test_encoding_units_and_segments(text, encoding, units, segments):
    info = analyze(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_escape_pair_is_not_split_across_segments():
    # 152 plain septets then '€': the escape pair would straddle 153, so it moves on.
    text = "a" * 152 + "€" + "b" * 10
    segments = split_segments(text)
    assert segments[0] == "a" * 152
    assert segments[1].startswith("€")
    assert analyze(text).segments == 2


def test_escape_packing_can_need_one_more_segment_than_arithmetic():
    # 2 * 153 = 306 septets fit exactly in arithmetic, but each part can hold only
    # 76 euro signs (152 septets), so 153 euro signs need 3 parts.
    text = "€" * 153
    assert analyze(text).units == 306
    assert analyze(text).segments == 3


def test_surrogate_pair_is_not_split_across_segments():
    text = "가" * 66 + "😀" + "가" * 10
    segments = split_segments(text)
    assert segments[0] == "가" * 66
    assert segments[1].startswith("😀")


@pytest.mark.parametrize(
    "text",
    ["", "short", "a" * 161, "€" * 200, "a" * 152 + "€" * 5, "가" * 300, "😀" * 100, "x😀" * 70, "Ωmega " * 60],
)
def test_split_segments_round_trip_and_fit(text):
    segments = split_segments(text)
    info = analyze(text)
    assert "".join(segments) == text
    assert len(segments) == info.segments
    limit = 153 if info.encoding == GSM_7 else 67
    if info.segments > 1:
        for segment in segments:
            assert analyze(segment).units <= limit


@pytest.mark.parametrize(
    ("char", "replacement"),
    [
        ("’", "'"),
        ("‘", "'"),
        ("“", '"'),
        ("”", '"'),
        ("–", "-"),
        ("—", "-"),
        ("…", "..."),
        ("\u00a0", " "),
        ("\u200b", ""),
        ("á", "a"),
        ("Ê", "E"),
        ("！", "!"),
        ("Α", "A"),  # Greek capital alpha
        ("Ώ", "Ω"),
        ("가", None),
        ("α", None),
        ("😀", None),
    ],
)
def test_non_gsm_chars_name_their_replacement(char, replacement):
    info = analyze("x" + char)
    assert info.encoding == UCS_2
    assert info.non_gsm_chars == ((char, replacement),)


def test_non_gsm_chars_are_distinct_and_in_order():
    info = analyze("“Hi” — it’s “ok”")
    assert [char for char, _ in info.non_gsm_chars] == ["“", "”", "—", "’"]


def test_gsm_text_lists_no_non_gsm_chars():
    assert analyze("Price: 10€ [today]").non_gsm_chars == ()


def test_apply_replacements_keeps_unreplaceable_characters():
    assert apply_gsm_replacements("It’s “great” — 가") == "It's \"great\" - 가"


def test_gsm_encode_basic_and_extension():
    assert gsm_encode("@A") == bytes([0x00, 0x41])
    assert gsm_encode("€") == bytes([0x1B, 0x65])
    assert gsm_encode("[x]") == bytes([0x1B, 0x3C, 0x78, 0x1B, 0x3E])
    assert gsm_encode("¤¡§¿à") == bytes([0x24, 0x40, 0x5F, 0x60, 0x7F])
    assert gsm_encode("ΔΩ") == bytes([0x10, 0x15])


def test_gsm_encode_rejects_non_gsm_text():
    with pytest.raises(NotGsmEncodableError) as raised:
        gsm_encode("Don’t 😀")
    assert raised.value.characters == ("’", "😀")
    assert isinstance(raised.value, ValueError)


def test_gsm_decode_reverses_encode():
    text = "Hello @ 10€ {x} ~ ß\nÅå"
    assert gsm_decode(gsm_encode(text)) == text


def _table_decode(data: bytes) -> str:
    """GSM 03.38 decoding by the tables alone, one septet at a time (the reference for the ASCII fast path)."""
    from mannerly.kit.sms import BASIC_CODES, EXTENSION_CODES

    basic = {code: char for char, code in BASIC_CODES.items()}
    extension = {code: char for char, code in EXTENSION_CODES.items()}
    chars, index = [], 0
    while index < len(data):
        code = data[index] & 0x7F
        if code == 0x1B and index + 1 < len(data):
            following = data[index + 1] & 0x7F
            chars.append(extension.get(following, basic.get(following, " ")))
            index += 2
            continue
        chars.append(basic.get(code, " "))
        index += 1
    return "".join(chars)


def test_gsm_decode_of_every_septet_agrees_with_the_tables():
    """Each byte alone and inside plain text decodes as the tables say (the ASCII fast path never mistranslates)."""
    for byte in range(256):
        for data in (bytes([byte]), b"id:12 stat:" + bytes([byte]) + b" err:000", bytes([0x1B, byte])):
            assert gsm_decode(data) == _table_decode(data), data


def test_gsm_encode_of_ascii_agrees_with_the_tables():
    """Every GSM-encodable ASCII character encodes to its table code, alone and among plain letters."""
    from mannerly.kit.sms import BASIC_CODES, EXTENSION_CODES

    for code in range(128):
        char = chr(code)
        if char in BASIC_CODES:
            expected = bytes([BASIC_CODES[char]])
        elif char in EXTENSION_CODES:
            expected = bytes([0x1B, EXTENSION_CODES[char]])
        else:
            with pytest.raises(NotGsmEncodableError):
                gsm_encode("ok " + char)
            continue
        assert gsm_encode(char) == expected, char
        assert gsm_encode("Order 12" + char + "x") == b"Order 12" + expected + b"x", char
        assert gsm_decode(gsm_encode("Order 12" + char + "x")) == "Order 12" + char + "x"
