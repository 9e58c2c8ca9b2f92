"""Reading a customer's short answer to a template's declared options, in en/ko/id/el. Pure.

A template declares options as answer → meaning, e.g. {"YES": "confirmed", "NO": "reschedule"}
or a scale "1-5". A reply is an answer when, once folded (case, width, accents, punctuation),
it is the option itself, a word that means the same (YES: 네, ya, ναι …), or a number word for a
numeric option, optionally with polite filler ("yes please", "네 감사합니다", "ναι ευχαριστώ").
Anything else, or a reply naming two different options, is not an answer.
"""

from __future__ import annotations

import re

from mannerly.csat.parse import SCORE_WORDS
from mannerly.policy.keywords import fold_text

# Words that say the same as a declared option, by the option's (folded) name.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "yes": ("yes", "y", "yeah", "yep", "yup", "ok", "okay", "sure", "confirm", "confirmed", "correct",
            "네", "예", "넵", "넹", "응", "좋아요", "확인", "확인했습니다", "알겠습니다",
            "ya", "iya", "iyaa", "yoi", "oke", "okey", "setuju", "betul", "benar", "siap",
            "ναι", "ναι ναι", "nai", "εντάξει", "βεβαίως", "σίγουρα", "μάλιστα", "επιβεβαιώνω"),
    "no": ("no", "n", "nope", "nah", "not",
           "아니오", "아니요", "아뇨", "아니", "아니에요", "싫어요",
           "tidak", "tdk", "ga", "gak", "nggak", "enggak", "engga", "bukan", "tak",
           "όχι", "oxi", "ochi", "οχι"),
    "confirm": ("confirm", "confirmed", "yes", "ok", "확인", "네", "예", "konfirmasi", "ya", "iya",
                "επιβεβαίωση", "επιβεβαιώνω", "ναι"),
    "reschedule": ("reschedule", "change", "move", "later", "변경", "일정변경", "일정 변경", "다른 날",
                   "ubah", "ganti", "jadwal ulang", "ganti jadwal", "αλλαγή", "αλλαγη", "άλλη μέρα"),
}

FILLER: frozenset[str] = frozenset(
    """
    please pls thanks thank you thx ty ok okay sure
    요 감사합니다 고맙습니다 감사해요 부탁드려요 부탁드립니다
    terima kasih makasih mohon dong ya saja aja
    παρακαλω ευχαριστω ευχαριστουμε
    """.split()
)

_SCALE = re.compile(r"^\s*(\d{1,2})\s*(?:-|–|—|to|\.\.)\s*(\d{1,2})\s*$")
_NUMBER = re.compile(r"^(\d{1,2})(?:점|번|개)?$")
_KOREAN_ENDINGS = ("입니다", "이요", "요")

_FOLDED_SYNONYMS = {fold_text(name): frozenset(fold_text(word) for word in words)
                    for name, words in SYNONYMS.items()}
_FOLDED_FILLER = frozenset(fold_text(word) for word in FILLER)


def expand_options(declared: dict[str, str] | str) -> dict[str, str]:
    """Options as answer → meaning; a scale such as "1-5" becomes {"1": "1", …, "5": "5"}."""
    if isinstance(declared, str):
        match = _SCALE.match(declared)
        if match is None:
            raise ValueError(f"'{declared}' is not a scale such as 1-5")
        low, high = int(match.group(1)), int(match.group(2))
        if not 0 <= low < high <= 10:
            raise ValueError("a scale runs from a lower to a higher number, at most 0-10")
        return {str(number): str(number) for number in range(low, high + 1)}
    options: dict[str, str] = {}
    for answer, meaning in declared.items():
        answer, meaning = str(answer).strip(), str(meaning).strip()
        if not answer or not meaning or len(answer) > 32 or len(meaning) > 64:
            raise ValueError("every option needs an answer (at most 32 characters) and a meaning (at most 64)")
        if not fold_text(answer):
            raise ValueError(f"option '{answer}' has no letters or digits")
        options[answer] = meaning
    if not options:
        raise ValueError("declare at least one option")
    folded = [fold_text(answer) for answer in options]
    if len(set(folded)) != len(folded):
        raise ValueError("two options read the same once case and accents are ignored")
    return options


def _words_for(option: str) -> frozenset[str]:
    """Every folded word or phrase that chooses this option."""
    folded = fold_text(option)
    words = {folded} | _FOLDED_SYNONYMS.get(folded, frozenset())
    if folded.isdigit():
        number = int(folded)
        words |= {word for word, value in SCORE_WORDS.items() if value == number}
    return frozenset(words)


def parse_answer(text: str, options: dict[str, str]) -> str | None:
    """The declared option a reply chooses, or None when it is not (only) one of them."""
    folded = fold_text(text)
    if not folded:
        return None
    # Exact option text wins over synonyms ("1" declared as an option means 1, never a synonym).
    table: dict[str, str] = {}
    for option in options:
        table.setdefault(fold_text(option), option)
    for option in options:
        for word in _words_for(option):
            table.setdefault(word, option)
    if folded in table:
        return table[folded]
    words = folded.split()
    chosen: set[str] = set()
    # Words that are both an answer and filler ("ok", "ya") only count when nothing else answers.
    weak: set[str] = set()
    index = 0
    while index < len(words):
        length = _phrase_at(words, index, table, chosen, weak)
        if length == 0:
            return None  # a word that is neither an answer nor filler: this is a real message
        index += length
    if len(chosen) == 1:
        return chosen.pop()
    if not chosen and len(weak) == 1:
        return weak.pop()
    return None


def _lookup(phrase: str, table: dict[str, str]) -> str | None:
    """The option a phrase names: itself, a number with a counter ("5점"), or with a Korean ending ("네요")."""
    if phrase in table:
        return table[phrase]
    number = _NUMBER.match(phrase)
    if number and number.group(1) in table:
        return table[number.group(1)]
    for ending in _KOREAN_ENDINGS:
        if phrase.endswith(ending) and phrase[:-len(ending)] in table:
            return table[phrase[:-len(ending)]]
    return None


def _phrase_at(words: list[str], index: int, table: dict[str, str], chosen: set[str], weak: set[str]) -> int:
    """Read the longest answer or filler phrase starting at `index`; its length in words, 0 when none."""
    for length in range(min(3, len(words) - index), 0, -1):
        phrase = " ".join(words[index:index + length])
        option = _lookup(phrase, table)
        if option is not None:
            (weak if phrase in _FOLDED_FILLER else chosen).add(option)
            return length
        if phrase in _FOLDED_FILLER:
            return length
    return 0
