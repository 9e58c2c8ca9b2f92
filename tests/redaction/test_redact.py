"""Redaction table: what is removed, and what must be left alone."""

from __future__ import annotations

import pytest

from mannerly.redaction import redact, redact_logged_body

# (text, expected text, expected kinds)
CASES = [
    # Card numbers: Luhn-valid, 13–19 digits, spaces or dashes.
    ("my card 4111 1111 1111 1111", "my card [card number removed]", ["card_number"]),
    ("4111-1111-1111-1111 exp 12/27", "[card number removed] exp 12/27", ["card_number"]),
    ("amex 378282246310005", "amex [card number removed]", ["card_number"]),
    ("카드번호 5500005555555559 입니다", "카드번호 [card number removed] 입니다", ["card_number"]),
    ("13 digits 4222222222222", "13 digits [card number removed]", ["card_number"]),
    # Luhn-invalid numbers are not cards.
    ("4111 1111 1111 1112", "4111 1111 1111 1112", []),
    ("order 1234567890123456", "order 1234567890123456", []),
    # Korean resident registration numbers.
    ("주민번호 900101-1234567", "주민번호 [resident registration number removed]", ["kr_rrn"]),
    ("850315 - 2234567", "[resident registration number removed]", ["kr_rrn"]),
    ("8503151234566", "[resident registration number removed]", ["kr_rrn"]),  # checksum holds
    ("8503151234567", "8503151234567", []),  # no dash and a wrong checksum: just a number
    ("991340-1234507", "991340-1234507", []),  # month 13 is no date (and no Luhn-valid card)
    # Indonesian NIK (16 digits, province code, birth date; women's day + 40).
    ("NIK saya 3174012505900003", "NIK saya [NIK removed]", ["id_nik"]),
    ("3174015505900001", "[NIK removed]", ["id_nik"]),
    ("9974012505900003", "9974012505900003", []),  # no province 99
    ("3174013213900003", "3174013213900003", []),  # month 13
    # Greek AMKA (DDMMYY + 5 digits, Luhn).
    ("ΑΜΚΑ 15038512347", "ΑΜΚΑ [AMKA removed]", ["gr_amka"]),
    ("15038512349", "15038512349", []),  # Luhn fails
    # Left alone: phone numbers, dates, order numbers, amounts, short codes.
    ("call me on +821012345678", "call me on +821012345678", []),
    ("010-1234-5678", "010-1234-5678", []),
    ("+62 812 3456 7890", "+62 812 3456 7890", []),
    ("delivered 2025-03-04 at 14:30", "delivered 2025-03-04 at 14:30", []),
    ("order ORD-2025-000123 total 129000", "order ORD-2025-000123 total 129000", []),
    ("tracking 12345678901234567890123", "tracking 12345678901234567890123", []),  # too long for anything
    ("PIN 1234", "PIN 1234", []),
    # Two at once.
    ("card 4111111111111111 and 900101-1234567",
     "card [card number removed] and [resident registration number removed]", ["kr_rrn", "card_number"]),
]


@pytest.mark.parametrize(("text", "expected", "kinds"), CASES)
def test_redaction_table(text: str, expected: str, kinds: list[str]) -> None:
    result = redact(text)
    assert result.text == expected
    assert sorted(result.kinds) == sorted(kinds)
    assert result.redacted == bool(kinds)


@pytest.mark.parametrize(("body", "must_not_contain", "must_contain"), [
    ("From=%2B821012345678&Body=card+4111+1111+1111+1111", "4111", "card+number+removed"),
    ('{"entry": [{"text": {"body": "NIK 3174012505900003"}}]}', "3174012505900003", "[NIK removed]"),
    ("plain 4111-1111-1111-1111", "4111", "[card number removed]"),
])
def test_logged_bodies_are_redacted_in_every_encoding(body: str, must_not_contain: str, must_contain: str) -> None:
    cleaned = redact_logged_body(body)
    assert must_not_contain not in cleaned and must_contain in cleaned


def test_logged_bodies_without_personal_numbers_are_kept_byte_for_byte() -> None:
    body = '{"a":  1, "text": "hello"}'
    assert redact_logged_body(body) == body
