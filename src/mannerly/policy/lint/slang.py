"""slang (L4): text-speak, slang and informal abbreviations, per language.

Every language's list is checked whatever the declared language (a Korean
business may write English). Entries that are also ordinary words or
acronyms elsewhere ("ga", "tp", "u") are only flagged when the message is in
that language. All-capital tokens of one or two letters are taken as
acronyms and skipped. Korean laughter/crying jamo runs (ㅋㅋ, ㅎㅎ, ㅠㅠ) are
found anywhere in a word.
"""

from __future__ import annotations

import re

from mannerly.policy.lint._common import LintContext, fold, language_name, word_set, word_tuple
from mannerly.policy.types import LintFinding, Severity

CHECK = "slang"

# language -> slang -> full form. "anywhere": flagged whatever the message
# language; "own_language": only when the message is in that language.
SLANG_ANYWHERE: dict[str, dict[str, str]] = {
    "en": {
        "pls": "please", "plz": "please", "plox": "please", "thx": "thanks", "thnx": "thanks", "tnx": "thanks",
        "b4": "before", "gr8": "great", "l8r": "later", "2day": "today", "2moro": "tomorrow",
        "2morrow": "tomorrow", "tmrw": "tomorrow", "tmr": "tomorrow", "2nite": "tonight", "lol": "(leave out)",
        "omg": "(leave out)", "idk": "I don't know", "btw": "by the way", "brb": "be right back",
        "ttyl": "talk to you later", "wanna": "want to", "gonna": "going to", "gotta": "have to",
        "cuz": "because", "coz": "because", "ppl": "people", "nvm": "never mind", "cya": "see you",
        "thanx": "thanks", "ya'll": "you all", "y'all": "you all", "lmk": "let me know",
    },
    "id": {
        "yg": "yang", "gk": "tidak", "gak": "tidak", "ngga": "tidak", "nggak": "tidak", "gx": "tidak",
        "udh": "sudah", "sdh": "sudah", "udah": "sudah", "bgt": "sekali", "dgn": "dengan", "utk": "untuk",
        "tdk": "tidak", "krn": "karena", "krna": "karena", "blm": "belum", "skrg": "sekarang",
        "mksh": "terima kasih", "makasih": "terima kasih", "gmn": "bagaimana", "gimana": "bagaimana",
        "bsk": "besok", "sy": "saya", "kalo": "kalau", "klo": "kalau", "trs": "terus", "dpt": "dapat",
        "spt": "seperti", "sbg": "sebagai", "tpi": "tetapi", "jgn": "jangan", "bs": "bisa", "bsa": "bisa",
        "gpp": "tidak apa-apa", "otw": "dalam perjalanan", "cmiiw": "(tulis lengkap)",
    },
    "ko": {
        "넘": "너무", "겜": "게임", "낼": "내일", "담주": "다음 주", "쌤": "선생님", "젤": "제일", "글구": "그리고",
        "어케": "어떻게", "셤": "시험", "ㄱㅅ": "감사합니다", "ㅇㅋ": "알겠습니다", "ㄴㄴ": "아니요",
        "ㅊㅋ": "축하합니다",
        "ㅈㅅ": "죄송합니다", "ㅇㅇ": "네", "ㄱㄱ": "시작합시다", "ㅂㅂ": "안녕히 계세요", "ㄳ": "감사합니다",
        "넘넘": "정말", "걍": "그냥", "ㅎㅇ": "안녕하세요",
    },
    "el": {
        "τπτ": "τίποτα", "τκ": "τι κάνεις", "σμρ": "σήμερα", "αυρ": "αύριο", "δλδ": "δηλαδή", "τλκ": "τελικά",
        "γτ": "γιατί", "νμζ": "νομίζω", "ευχ": "ευχαριστώ", "φλκ": "φιλικά", "φλ": "φιλιά", "μλκ": "(να παραλειφθεί)",
        "πλζ": "παρακαλώ", "θενκς": "ευχαριστώ",
        "thnks": "ευχαριστώ", "kalimera": "καλημέρα", "efxaristo": "ευχαριστώ", "parakalo": "παρακαλώ",
    },
}
SLANG_OWN_LANGUAGE: dict[str, dict[str, str]] = {
    "en": {"u": "you", "ur": "your", "r": "are", "k": "OK", "kk": "OK", "ty": "thank you", "np": "no problem",
           "bc": "because", "n": "and", "imo": "in my opinion", "msg": "message"},
    "id": {"ga": "tidak", "aja": "saja", "tp": "tetapi", "sm": "sama", "lg": "lagi", "jd": "jadi",
           "hr": "hari", "pd": "pada", "org": "orang", "km": "kamu", "kl": "kalau", "dr": "dari"},
    "ko": {},
    "el": {"κ": "και"},
}
# Runs of Korean jamo used for laughing or crying.
_KOREAN_JAMO_RUN = re.compile(r"[ㅋ]{2,}|[ㅎ]{2,}|[ㅠㅜ]{2,}")
# Any of those jamo; a single class is much quicker to search for than the runs.
_KOREAN_JAMO = re.compile(r"[ㅋㅎㅠㅜ]")
_KOREAN_JAMO_MEANING = {"ㅋ": "(웃음 표현 생략)", "ㅎ": "(웃음 표현 생략)", "ㅠ": "(생략)", "ㅜ": "(생략)"}
ACRONYM_MAX_LETTERS = 2


# Per message language ("" for languages without an own table): words known not to be slang.
# A set, so that the usual text (no slang) is settled by set operations in C.
_NOT_SLANG: dict[str, set[str]] = {}
_NOT_SLANG_LIMIT = 20_000
# ASCII letters and digits and Hangul syllables: fold() of such a word is word.lower().
_SELF_FOLDING_WORD = re.compile(r"[0-9A-Za-z\uac00-\ud7a3]+")
# Every entry of every table.
_ALL_KEYS = frozenset(key for tables in (SLANG_ANYWHERE, SLANG_OWN_LANGUAGE) for table in tables.values() for key in table)


def _word_slang(word: str, language: str) -> tuple[tuple[str, str], ...]:
    """What the tables say about one word, in table order: (slang language, full form) pairs."""
    if word.isupper() and len(word) <= ACRONYM_MAX_LETTERS:
        return ()  # an acronym
    key = fold(word).replace("’", "'")
    hits = [(slang_language, table[key]) for slang_language, table in SLANG_ANYWHERE.items() if key in table]
    own_table = SLANG_OWN_LANGUAGE.get(language, {})
    if key in own_table:
        hits.append((language, own_table[key]))
    return tuple(hits)


def slang_words(text: str, language: str) -> dict[str, list[tuple[str, str]]]:
    """Slang found in the text, by language: (word as written, full form)."""
    text_words = word_tuple(text)
    has_jamo = not text.isascii() and _KOREAN_JAMO.search(text) is not None
    # Only the own-language table depends on the language; others share one memo.
    not_slang = _NOT_SLANG.setdefault(language if language in SLANG_OWN_LANGUAGE else "", set())
    slang: dict[str, tuple[tuple[str, str], ...]] = {}
    # Usually no word or only an order number is new: one set difference in C settles the rest.
    for word in word_set(text).difference(not_slang):
        if _SELF_FOLDING_WORD.fullmatch(word) and word.lower() not in _ALL_KEYS:
            hits: tuple[tuple[str, str], ...] = ()  # its folded form is word.lower(), and no entry
        else:
            hits = _word_slang(word, language)
        if hits:
            slang[word] = hits
        elif word.isalpha() or len(word) <= 3:  # longer ones with digits ("12345번이") are rarely seen twice
            if len(not_slang) >= _NOT_SLANG_LIMIT:
                not_slang.clear()  # keeps the memo bounded; it refills with the words in use
            not_slang.add(word)
    if not slang and not has_jamo:
        return {}
    found: dict[str, list[tuple[str, str]]] = {}
    seen: set[str] = set()

    def note(slang_language: str, written: str, full: str) -> None:
        """Record one slang word once."""
        if written.casefold() not in seen:
            seen.add(written.casefold())
            found.setdefault(slang_language, []).append((written, full))

    if has_jamo:
        for run in _KOREAN_JAMO_RUN.findall(text):
            note("ko", run, _KOREAN_JAMO_MEANING[run[0]])
    for word in text_words:
        for slang_language, full in slang.get(word, ()):
            note(slang_language, word, full)
    return found


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn about slang and text-speak, naming the language and the full forms."""
    findings = []
    for slang_language, found in slang_words(text, context.language).items():
        listed = ", ".join(written for written, _ in found)
        replacements = "; ".join(f"{written} → {full}" for written, full in found)
        findings.append(
            LintFinding(
                CHECK,
                Severity.WARNING,
                f"Slang or abbreviations ({language_name(slang_language)}): {listed}. "
                "Customers may find them unclear or too casual.",
                suggestion=f"Write them out: {replacements}.",
            )
        )
    return findings
