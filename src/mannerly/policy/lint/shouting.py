"""shouting (L8): text written mostly in capitals.

Only letters that have case count (Hangul has none). Short all-capital
tokens (up to 3 letters: OTP, SMS, PIN, KRW), the opt-out keywords and the
brand name are acronyms or required wording, not shouting, and are left out.
A warning when at least MIN_LETTERS letters remain and SHOUTING_SHARE of them
are capitals.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from mannerly.policy.lint._common import ASTRAL_PATTERN, LintContext, character_class, fold, word_tuple, words
from mannerly.policy.types import LintFinding, Severity

CHECK = "shouting"
MIN_LETTERS = 12
SHOUTING_SHARE = 0.7
ACRONYM_MAX_LETTERS = 3
# Keywords customers are told to send; they are written in capitals on purpose.
REQUIRED_CAPITAL_WORDS = {"stop", "berhenti", "unreg", "στοπ", "start", "help", "info", "ok"}


def _cased_letters(word: str) -> list[str]:
    """The letters of a word that have an upper and a lower case."""
    return [char for char in word if char.isalpha() and char.lower() != char.upper()]


@lru_cache(maxsize=16384)
def _word_letters(word: str) -> tuple[int, int, str]:
    """A word's cased letters, how many of them are capitals, and its folded form (cached per word)."""
    letters = _cased_letters(word)
    return len(letters), sum(1 for char in letters if char.isupper()), fold(word)


@lru_cache(maxsize=16384)
def _word_weight(word: str) -> tuple[int, int, str] | None:
    """_word_letters of a word that counts, or None for words never counted whatever the brand.

    Never counted: words without cased letters, acronyms (all capitals, at most
    ACRONYM_MAX_LETTERS) and the keywords written in capitals on purpose.
    """
    letter_count, capitals, folded = _word_letters(word)
    if not letter_count:
        return None
    if capitals == letter_count and letter_count <= ACRONYM_MAX_LETTERS:
        return None
    if folded in REQUIRED_CAPITAL_WORDS:
        return None
    return letter_count, capitals, folded


@lru_cache(maxsize=256)
def _brand_words(brand: str) -> frozenset[str]:
    """The folded words of a brand name, whose capitals never count."""
    return frozenset(fold(part) for part in words(brand))


_ASCII_CAPITALS = bytes(range(ord("A"), ord("Z") + 1))


@cache
def _capital_pattern() -> re.Pattern[str]:
    """A regex of the BMP's characters for which str.isupper() is true.

    Built from this Python's own Unicode database on first use (a scan of the BMP, a few
    milliseconds): counting its matches is exact and much quicker than a str.isupper()
    call per character, which also makes a string of every non-Latin-1 character.
    """
    return re.compile(character_class([code for code in range(0x10000) if chr(code).isupper()]))


def _capital_count(text: str) -> int:
    """How many characters of the text are capitals (str.isupper)."""
    if text.isascii():
        # In ASCII only A-Z are capitals; deleting them from the bytes counts them at C speed.
        data = text.encode("ascii")
        return len(data) - len(data.translate(None, _ASCII_CAPITALS))
    if ASTRAL_PATTERN.search(text):
        return sum(map(str.isupper, text))  # the pattern covers the BMP only
    return len(_capital_pattern().findall(text))


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn when most letters of a longer text are capitals."""
    # The counted capitals are some of the text's capitals, and a warning needs at least
    # SHOUTING_SHARE of MIN_LETTERS of them: with fewer in the whole text there is nothing to find.
    if _capital_count(text) < MIN_LETTERS * SHOUTING_SHARE:
        return []
    brand_words = _brand_words(context.brand or "")
    upper = 0
    total = 0
    for word in word_tuple(text):
        weight = _word_weight(word)
        if weight is None or weight[2] in brand_words:
            continue
        total += weight[0]
        upper += weight[1]
    if total < MIN_LETTERS or upper / total < SHOUTING_SHARE:
        return []
    detail = "Most of the text is in capital letters, which reads as shouting."
    if any("\u0370" <= char <= "\u03ff" for char in text):
        detail += " (Greek capitals can keep an SMS in GSM-7; weigh that against the tone.)"
    return [
        LintFinding(
            CHECK,
            Severity.WARNING,
            detail,
            suggestion="Write in normal sentence case; keep capitals for names and short codes.",
        )
    ]
