"""shouting (L8): text written mostly in capitals.

Only letters that have case count (Hangul has none). Short all-capital
tokens (up to 3 letters: OTP, SMS, PIN, KRW), the opt-out keywords and the
brand name are acronyms or required wording, not shouting, and are left out.
A warning when at least MIN_LETTERS letters remain and SHOUTING_SHARE of them
are capitals.
"""

from __future__ import annotations

from mannerly.policy.lint._common import LintContext, fold, words
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


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn when most letters of a longer text are capitals."""
    brand_words = {fold(part) for part in words(context.brand or "")}
    upper = 0
    total = 0
    for word in words(text):
        letters = _cased_letters(word)
        if not letters:
            continue
        all_upper = all(char.isupper() for char in letters)
        if all_upper and len(letters) <= ACRONYM_MAX_LETTERS:
            continue
        if fold(word) in REQUIRED_CAPITAL_WORDS or fold(word) in brand_words:
            continue
        total += len(letters)
        upper += sum(1 for char in letters if char.isupper())
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
