"""The script-based language guess used for localized wording."""

import pytest

from mannerly.kit.language import guess_language


@pytest.mark.parametrize(("text", "preferences", "expected"), [
    ("주문하신 상품이 발송되었습니다.", ("en",), "ko"),
    ("Η παραγγελία σας στάλθηκε.", ("en",), "el"),
    ("Your order has shipped.", ("ko", "en"), "en"),
    ("Pesanan Anda sudah dikirim.", ("id",), "id"),
    ("Your order has shipped.", ("el", "id"), "id"),
    ("12345 !!!", ("ko",), "ko"),
    ("", (None,), "en"),
    ("Order 123: 발송 완료되었습니다", ("en",), "ko"),
])
def test_guess_language(text, preferences, expected):
    """Script decides ko/el; Latin text takes the first Latin-script preference."""
    assert guess_language(text, *preferences) == expected
