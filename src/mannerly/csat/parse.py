"""Reading a 1–5 satisfaction score from a customer's reply, in English, Korean, Indonesian and Greek. Pure.

A reply counts as a score only when it is essentially nothing but a score: "5", "5/5", "five",
"다섯", "lima", "πέντε", "매우 만족", "★★★★☆", "⭐⭐⭐⭐", "👍", optionally with filler such as
"stars", "점", "thanks". "Thanks, one more question" is not a score: it holds other words.
"""

from __future__ import annotations

import re

from mannerly.policy.keywords import fold_text

SCORE_WORDS: dict[str, int] = {
    # English
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    # Korean: native and Sino-Korean numerals
    "하나": 1, "한개": 1, "둘": 2, "두개": 2, "셋": 3, "세개": 3, "넷": 4, "네개": 4, "다섯": 5, "다섯개": 5,
    "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5,
    # Indonesian
    "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5,
    # Greek (accents folded away)
    "ενα": 1, "μια": 1, "δυο": 2, "δυο αστερια": 2, "τρια": 3, "τρεις": 3, "τεσσερα": 4, "τεσσερις": 4,
    "πεντε": 5,
}

# Whole replies that name a level of satisfaction (folded).
SCORE_PHRASES: dict[str, int] = {
    # "ok" and "good" are left out on purpose: after "How did we do?" they are as often a plain
    # acknowledgement as a rating.
    "very satisfied": 5, "excellent": 5, "satisfied": 4, "neutral": 3, "dissatisfied": 2, "unsatisfied": 2,
    "very dissatisfied": 1, "terrible": 1,
    "매우 만족": 5, "아주 만족": 5, "매우만족": 5, "만족": 4, "보통": 3, "불만족": 2, "불만": 2,
    "매우 불만족": 1, "매우불만족": 1,
    "sangat puas": 5, "puas": 4, "biasa": 3, "biasa saja": 3, "cukup": 3, "tidak puas": 2, "kurang puas": 2,
    "sangat tidak puas": 1,
    "πολυ ικανοποιημενος": 5, "πολυ ικανοποιημενη": 5, "αριστα": 5, "ικανοποιημενος": 4, "ικανοποιημενη": 4,
    "μετρια": 3, "ουδετερα": 3, "δυσαρεστημενος": 2, "δυσαρεστημενη": 2, "πολυ δυσαρεστημενος": 1,
    "πολυ δυσαρεστημενη": 1,
}

# Words that may surround a score without changing it (folded).
FILLER: frozenset[str] = frozenset({
    "star", "stars", "point", "points", "out", "of", "i", "id", "would", "give", "it", "a", "my", "score",
    "rating", "rate", "thanks", "thank", "you", "thx", "ty", "please", "is",
    "점", "점요", "점이요", "점입니다", "개", "별", "요", "입니다", "이요", "감사합니다", "고맙습니다",
    "bintang", "nilai", "saya", "beri", "kasih", "terima", "makasih",
    "αστερια", "αστερι", "βαθμος", "ευχαριστω", "ευχαριστουμε",
})

# Keys are written naturally above and folded here the way replies are folded (accents off, σ for ς).
SCORE_WORDS = {fold_text(word): score for word, score in SCORE_WORDS.items()}
SCORE_PHRASES = {fold_text(phrase): score for phrase, score in SCORE_PHRASES.items()}
FILLER = frozenset(fold_text(word) for word in FILLER)

_FILLED_STARS = ("⭐", "★", "🌟")
_EMPTY_STARS = ("☆",)
_THUMBS = {"👍": 5, "👎": 1}
_OUT_OF_FIVE = re.compile(r"^\s*([1-5])\s*(?:/|out\s+of|of|von)\s*5\s*[.!]*\s*$", re.IGNORECASE)
_KOREAN_POINTS = re.compile(r"^([1-5])(?:점|개)")


def _star_score(text: str) -> int | None:
    """The number of filled stars when the reply is only stars (and empty stars, spaces, selectors)."""
    filled = sum(text.count(star) for star in _FILLED_STARS)
    if not filled:
        return None
    rest = text
    for mark in (*_FILLED_STARS, *_EMPTY_STARS, "\ufe0f"):
        rest = rest.replace(mark, "")
    if rest.strip(" \t\n.!"):
        return None
    return filled if 1 <= filled <= 5 else None


def _token_score(token: str) -> int | None:
    """A single word or number that is a score."""
    if token in {"1", "2", "3", "4", "5"}:
        return int(token)
    korean = _KOREAN_POINTS.match(token)
    if korean and token[korean.end():] in ("", "요", "이요", "입니다"):
        return int(korean.group(1))
    return SCORE_WORDS.get(token)


def parse_score(text: str, language: str | None = None) -> int | None:
    """The 1–5 score a reply gives, or None when the reply is anything else.

    `language` only breaks ties: Sino-Korean one-syllable numerals (일, 이, 삼, 사, 오) count
    when the reply is in Korean or the customer's language is Korean.
    """
    if not text or len(text) > 60:
        return None
    stripped = text.strip()
    if stripped in _THUMBS:
        return _THUMBS[stripped]
    stars = _star_score(stripped)
    if stars is not None:
        return stars
    out_of_five = _OUT_OF_FIVE.match(stripped)
    if out_of_five:
        return int(out_of_five.group(1))
    folded = fold_text(stripped)
    if folded in SCORE_PHRASES:
        return SCORE_PHRASES[folded]
    if not folded:
        return None
    words = [word for word in folded.split() if word not in FILLER]
    if len(words) == 2 and words[1] == "5" and words[0] in {"1", "2", "3", "4", "5"}:
        return int(words[0])  # "4 5" is what "4/5" folds to when written with other marks
    remainder = " ".join(words)
    if remainder in SCORE_PHRASES:
        return SCORE_PHRASES[remainder]
    if len(words) != 1:
        return None
    word = words[0]
    if word in {"일", "이", "삼", "사", "오"} and language != "ko":
        return None
    return _token_score(word)
