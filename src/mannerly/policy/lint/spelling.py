"""spelling (L8): possible misspellings, where an offline dictionary exists.

Uses the optional `pyspellchecker` package (its word lists ship inside the
wheel). Only English has a dictionary there; for Korean, Indonesian and Greek,
or when the package is not installed, the check quietly finds nothing.

To avoid false alarms it skips: words with digits, capitalised words (names,
brands, sentence starts), words containing non-Latin letters, the brand
name, slang (the slang check reports it), common business abbreviations, and
British spellings whose American form is known (colour, organise, centre).
"""

from __future__ import annotations

import re
from functools import lru_cache

from mannerly.policy.lint._common import LintContext, fold, word_set, word_tuple, words
from mannerly.policy.lint.slang import SLANG_ANYWHERE, SLANG_OWN_LANGUAGE
from mannerly.policy.types import LintFinding, Severity

CHECK = "spelling"
MAX_LISTED = 5
DICTIONARY_LANGUAGES = ("en",)

BUSINESS_WORDS = frozenset(
    {
        "sms", "otp", "pin", "cvv", "url", "app", "apps", "faq", "qr", "vip", "promo", "promos", "checkout",
        "login", "logout", "signup", "whatsapp", "wifi", "ok", "okay", "covid", "ebook", "etc", "eg", "ie",
        "am", "pm", "hr", "hrs", "min", "mins", "pcs", "qty", "rsvp", "unsubscribe", "opt", "optout", "txt",
    }
)
_LATIN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
# British endings and their American forms, for words the dictionary lacks.
_BRITISH_TO_AMERICAN = (
    ("our", "or"), ("ours", "ors"), ("oured", "ored"), ("ouring", "oring"),
    ("ise", "ize"), ("ised", "ized"), ("ising", "izing"), ("isation", "ization"),
    ("yse", "yze"), ("ysed", "yzed"), ("tre", "ter"), ("tres", "ters"), ("ogue", "og"),
    ("lled", "led"), ("lling", "ling"), ("ence", "ense"),
)


@lru_cache(maxsize=4)
def _dictionary(language: str):
    """The spell checker for a language, or None when none is available."""
    if language not in DICTIONARY_LANGUAGES:
        return None
    try:
        from spellchecker import SpellChecker  # optional dependency: pyspellchecker
    except ImportError:
        return None
    # Corrections one edit away only: distance 2 takes seconds on long unknown words.
    return SpellChecker(language=language, distance=1)


def dictionary_available(language: str) -> bool:
    """True when misspellings can be checked in this language."""
    return _dictionary(language) is not None


def _known_british_spelling(word: str, known) -> bool:
    """True when the word is a British spelling of a word the dictionary knows."""
    for british, american in _BRITISH_TO_AMERICAN:
        if word.endswith(british) and known(word[: -len(british)] + american):
            return True
    return False


# English slang is the slang check's to report.
_ENGLISH_SLANG = frozenset(SLANG_ANYWHERE.get("en", {})) | frozenset(SLANG_OWN_LANGUAGE.get("en", {}))


@lru_cache(maxsize=16384)
def _lookup_form(word: str) -> str | None:
    """The word as it would be looked up (straight apostrophes), or None when it is never looked up."""
    word = word.replace("’", "'")
    if not _LATIN_WORD.fullmatch(word):
        return None  # capitalised, digits, or non-Latin letters
    if len(word) <= 2 or word in _ENGLISH_SLANG or word in BUSINESS_WORDS:
        return None
    return word


@lru_cache(maxsize=256)
def _brand_words(brand: str) -> frozenset[str]:
    """The folded words of a brand name, which are never misspellings."""
    return frozenset(fold(part) for part in words(brand))


def _candidates(text: str, context: LintContext) -> list[str]:
    """Lower-case words worth looking up, in order, each once."""
    brand_words = _brand_words(context.brand or "")
    picked: list[str] = []
    for word in word_tuple(text):
        word = _lookup_form(word)
        if word is None or word in brand_words:
            continue
        if word not in picked:
            picked.append(word)
    return picked


@lru_cache(maxsize=16384)
def _unknown(language: str, word: str) -> bool:
    """True when the language's dictionary does not know the word (cached: the dictionary never changes)."""
    return bool(_dictionary(language).unknown([word]))


@lru_cache(maxsize=1024)
def _correction(language: str, word: str) -> str | None:
    """The dictionary's best correction of a word, cached because finding it is slow."""
    return _dictionary(language).correction(word)


# Per language: words (as written) that are never reported, because they are not looked up
# or the dictionary knows them (also as British spellings). Numbers are left out: they are
# rarely the same twice and are settled at once.
_FINE_WORDS: dict[str, set[str]] = {}
_FINE_WORDS_LIMIT = 20_000


def _fine_word(word: str, language: str) -> bool:
    """True when a word can never be reported as misspelled, whatever the brand."""
    lookup = _lookup_form(word)
    if lookup is None or not _unknown(language, lookup):
        return True
    return _known_british_spelling(lookup, lambda form: not _unknown(language, form))


def _all_fine(text: str, language: str) -> bool:
    """True when no word of the text can be reported (the usual case), settled mostly by set operations."""
    fine = _FINE_WORDS.setdefault(language, set())
    for word in word_set(text).difference(fine):
        if word.isdigit():
            continue  # never looked up (not a Latin word)
        if not _fine_word(word, language):
            return False
        if len(fine) >= _FINE_WORDS_LIMIT:
            fine.clear()  # keeps the memo bounded; it refills with the words in use
        fine.add(word)
    return True


def misspelled_words(text: str, context: LintContext) -> list[tuple[str, str | None]]:
    """Words the dictionary does not know, with its best correction if it has one."""
    language = context.language
    if _dictionary(language) is None or _all_fine(text, language):
        return []

    def known(word: str) -> bool:
        """True when the dictionary knows the word."""
        return not _unknown(language, word)

    found = []
    for word in _candidates(text, context):
        if _unknown(language, word) and not _known_british_spelling(word, known):
            correction = _correction(language, word)
            found.append((word, correction if correction and correction != word else None))
    return found


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn about probable misspellings in languages with a dictionary."""
    found = misspelled_words(text, context)
    if not found:
        return []
    listed = found[:MAX_LISTED]
    names = ", ".join(word for word, _ in listed)
    fixes = "; ".join(f"{word} → {correction}" for word, correction in listed if correction)
    return [
        LintFinding(
            CHECK,
            Severity.WARNING,
            f"Possible spelling mistakes: {names}" + (" and more." if len(found) > MAX_LISTED else "."),
            suggestion=f"Did you mean: {fixes}?" if fixes else "Check the spelling of these words.",
        )
    ]
