"""FAQ matching across phrasing in English and Korean, and near-misses that must not match."""

from __future__ import annotations

import pytest

from mannerly.bots.faq import DEFAULT_THRESHOLD, FaqMatcher

ENTRIES = [
    (1, "What are your opening hours?\nWhen are you open?"),
    (2, "How much is shipping?\nWhat does delivery cost?"),
    (3, "How do I return an item and get a refund?"),
    (4, "Where is your store?\nWhat is your shop address?"),
    (5, "영업시간이 어떻게 되나요?\n몇 시에 문 여나요?"),
    (6, "배송비는 얼마인가요?"),
    (7, "환불은 어떻게 하나요?"),
]

# (customer's message, the entry it must match, or None when nothing may match)
CASES = [
    # English paraphrases
    ("when do you open?", 1), ("What time do you open tomorrow", 1), ("opening hours pls", 1),
    ("Are you open on Saturday?", 1), ("How much does delivery cost?", 2), ("shipping price?", 2),
    ("what's the delivery fee", 2), ("can I get a refund?", 3), ("I want to return my shoes", 3),
    ("where is the shop", 4), ("what's your address", 4),
    # Korean paraphrases (particles and endings differ, compounds differ)
    ("영업 시간 알려주세요", 5), ("몇시에 열어요?", 5), ("배송비 얼마예요?", 6), ("택배비 얼마에요", 6),
    ("환불하고 싶어요", 7), ("환불 방법 알려주세요", 7),
    # Near-misses: share a word with an entry but ask something else
    ("where is my order?", None), ("I want to change my address", None), ("my order hasn't arrived", None),
    ("is my package shipped yet?", None), ("do you sell gift cards?", None), ("hello", None), ("thanks!", None),
    ("배송이 아직 안 왔어요", None), ("주문 취소하고 싶어요", None), ("안녕하세요", None),
]


@pytest.fixture(scope="module")
def matcher() -> FaqMatcher:
    """The index over the entries above."""
    return FaqMatcher(ENTRIES)


@pytest.mark.parametrize(("question", "expected"), CASES)
def test_faq_matching_table(matcher: FaqMatcher, question: str, expected: int | None) -> None:
    best = matcher.best(question)
    matched = best.entry_id if best is not None and best.score >= DEFAULT_THRESHOLD else None
    assert matched == expected, best


def test_no_entries_match_nothing() -> None:
    assert FaqMatcher([]).best("when are you open?") is None
