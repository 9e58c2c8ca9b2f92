"""CSAT answers in English, Korean, Indonesian and Greek: scores, and replies that are not scores."""

from __future__ import annotations

import pytest

from mannerly.csat import parse_score

# (reply, customer's language, expected score or None)
CASES = [
    # English
    ("5", "en", 5), ("5/5", "en", 5), ("4 out of 5", "en", 4), (" 3 ", "en", 3), ("five", "en", 5),
    ("Four!", "en", 4), ("4 stars", "en", 4), ("I'd give it 2", "en", 2), ("1. thanks", "en", 1),
    ("very satisfied", "en", 5), ("⭐⭐⭐⭐", "en", 4), ("★★★☆☆", "en", 3), ("⭐️⭐️⭐️⭐️⭐️", "en", 5), ("👍", "en", 5),
    ("thanks, one more question", "en", None), ("I have 2 questions", "en", None), ("ok", "en", None),
    ("6", "en", None), ("0", "en", None), ("10", "en", None), ("5 items are missing", "en", None),
    ("hello", "en", None), ("", "en", None), ("⭐ where is my order", "en", None),
    # Korean
    ("다섯", "ko", 5), ("5점", "ko", 5), ("4점이요", "ko", 4), ("매우 만족", "ko", 5), ("만족", "ko", 4),
    ("보통", "ko", 3), ("불만족", "ko", 2), ("오", "ko", 5), ("셋", "ko", 3), ("감사합니다 5점", "ko", 5),
    ("오늘 배송되나요?", "ko", None), ("오", "en", None), ("질문이 하나 더 있어요", "ko", None),
    # Indonesian
    ("lima", "id", 5), ("empat bintang", "id", 4), ("sangat puas", "id", 5), ("puas", "id", 4),
    ("tidak puas", "id", 2), ("5 terima kasih", "id", 5), ("lima menit lagi saya telepon", "id", None),
    # Greek
    ("πέντε", "el", 5), ("Πέντε!", "el", 5), ("τέσσερα", "el", 4), ("ένα", "el", 1), ("5 ευχαριστώ", "el", 5),
    ("πολύ ικανοποιημένος", "el", 5), ("δυσαρεστημένη", "el", 2), ("έχω μια ερώτηση ακόμα", "el", None),
]


@pytest.mark.parametrize(("reply", "language", "expected"), CASES)
def test_csat_parsing_table(reply: str, language: str, expected: int | None) -> None:
    assert parse_score(reply, language) == expected
