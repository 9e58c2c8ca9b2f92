"""pii_request (L5): the message asks the customer for personal or secret data.

Works sentence by sentence in all four languages. A sentence is a request
when it names a kind of sensitive data AND a verb asking the customer to give
it AND no negation or warning word ("never", "jangan", "절대", "μην"): so
"We will never ask for your PIN" and "Jangan berikan PIN Anda" pass while
"Please reply with your card number" is refused.

Verbs that hand data back to the business (reply, send, tell, 알려, kirim,
στείλτε) always make a request. Verbs that have the customer type data in
somewhere (enter, update, 입력, masukkan, εισάγετε) count only when the
message carries a link outside the business's own domains: "update your card
details in the app" is a normal billing reminder, "enter your PIN at
bit.ly/x" is phishing. One-time codes only ever count with the first kind:
telling customers to enter a code is what OTP messages are for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mannerly.policy.lint._common import (
    LintContext,
    fold,
    language_name,
    literal_gate,
    may_match,
    required_literal_sets,
    required_literals,
    sentences,
    without_links,
    word_set,
)
from mannerly.policy.lint.link import has_foreign_link
from mannerly.policy.types import LintFinding, Severity

CHECK = "pii_request"


@dataclass(frozen=True)
class _LanguageRules:
    """Patterns of one language, written naturally and folded before use."""

    secrets: tuple[str, ...]  # card numbers, passwords, IDs, accounts
    one_time_codes: tuple[str, ...]  # OTP and verification codes
    giving_verbs: tuple[str, ...]  # give / send / tell the business
    entering_verbs: tuple[str, ...]  # type it in somewhere
    negations: tuple[str, ...]


_RULES: dict[str, _LanguageRules] = {
    "en": _LanguageRules(
        secrets=(
            r"\bcard\s+(?:number|details|no\b|info)", r"\bcredit\s+card\b", r"\bdebit\s+card\b", r"\bcvv2?\b",
            r"\bcvc\b", r"\bsecurity\s+code\b", r"\bpin\b", r"\bpassword\b", r"\bpasscode\b",
            r"\bsocial\s+security\b", r"\bssn\b", r"\bnational\s+(?:id|insurance)\b", r"\bid\s+number\b",
            r"\bpassport\s+number\b", r"\bbank\s+account\b", r"\baccount\s+number\b", r"\brouting\s+number\b",
            r"\biban\b", r"\bsort\s+code\b", r"\blogin\s+details\b", r"\bonline\s+banking\s+details\b",
        ),
        one_time_codes=(r"\botp\b", r"\bone[\s-]time\s+(?:code|password|pin|passcode)\b", r"\bverification\s+code\b"),
        giving_verbs=(
            r"\breply\b", r"\brespond\b", r"\bsend\b", r"\btext\s+us\b", r"\btell\b", r"\bprovide\b", r"\bgive\b",
            r"\bshare\b", r"\bread\s+(?:it\s+)?out\b", r"\blet\s+us\s+know\b", r"\bwhat(?:'s|’s|\s+is)\s+your\b",
            r"\bneed\s+your\b", r"\brequire\s+your\b",
        ),
        entering_verbs=(
            r"\benter\b", r"\btype\b", r"\bconfirm\b", r"\bverify\b", r"\bupdate\b", r"\bsubmit\b", r"\binput\b",
        ),
        negations=(
            r"\bnever\b", r"\bnot\b", r"n't\b", r"n’t\b", r"\bno\s+one\b", r"\bnobody\b", r"\bbeware\b",
            r"\bscam", r"\bfraud",
        ),
    ),
    "id": _LanguageRules(
        secrets=(
            r"nomor\s+kartu", r"kartu\s+kredit", r"kartu\s+debit", r"\bcvv\b", r"\bcvc\b", r"\bpin\b",
            r"kata\s+sandi", r"\bpassword\b", r"\bnik\b", r"\bktp\b", r"nomor\s+induk", r"nomor\s+rekening",
            r"\brekening\s+anda\b", r"data\s+rekening", r"\bm-?banking\b",
        ),
        one_time_codes=(r"\botp\b", r"kode\s+(?:verifikasi|rahasia|keamanan|aktivasi)"),
        giving_verbs=(
            r"\bkirim", r"\bbalas", r"\bberi(?:kan|tahu|tahukan)\b", r"\bsebutkan\b", r"\binformasikan\b",
            r"\bbagikan\b", r"\bkasih\b", r"\bsampaikan\b", r"\bberapa\b", r"\bperlu\b",
        ),
        entering_verbs=(
            r"\bmasukkan\b", r"\bisi(?:kan)?\b", r"\bkonfirmasi", r"\bverifikasi", r"\bketik\b", r"\bperbarui\b",
        ),
        negations=(r"\bjangan\b", r"\btidak\b", r"\btak\b", r"\bbukan\b", r"\bhindari\b", r"\bwaspada", r"\bpenipu"),
    ),
    "ko": _LanguageRules(
        secrets=(
            r"카드\s*번호", r"카드\s*정보", r"\bcvc\b", r"\bcvv\b", r"비밀\s*번호", r"비번", r"주민\s*등록\s*번호",
            r"주민\s*번호", r"계좌\s*번호", r"보안\s*카드", r"여권\s*번호", r"공인\s*인증서", r"신분증\s*번호",
        ),
        one_time_codes=(r"인증\s*번호", r"\botp\b", r"승인\s*번호"),
        giving_verbs=(
            r"알려", r"보내", r"회신", r"답장", r"말씀", r"불러", r"전송", r"남겨", r"제공", r"기재", r"적어",
        ),
        entering_verbs=(r"입력", r"등록해", r"확인\s*부탁"),
        negations=(
            r"절대", r"않", r"마세요", r"마십시오", r"마시기", r"말고", r"말아", r"금지", r"사기", r"주의",
            r"(?<![가-힣])안\s",  # "안 물어봅니다", but not 안내 (notice)
        ),
    ),
    "el": _LanguageRules(
        secrets=(
            r"αριθμ\w*\s+(?:της\s+)?(?:πιστωτικής\s+|χρεωστικής\s+)?κάρτ", r"στοιχεί\w*\s+(?:της\s+)?κάρτ",
            r"\bcvv\b", r"\bcvc\b", r"\bpin\b", r"κωδικ\w*\s+(?:πρόσβασης|pin|ασφαλείας|εισόδου)", r"συνθηματικ",
            r"\bαφμ\b", r"\bαμκα\b", r"ταυτότητ", r"\biban\b", r"αριθμ\w*\s+(?:του\s+)?(?:τραπεζικού\s+)?λογαριασμ",
            r"τραπεζικ\w*\s+λογαριασμ", r"\bpassword\b",
        ),
        one_time_codes=(r"\botp\b", r"κωδικ\w*\s+(?:otp|μιας\s+χρήσης|επαλήθευσης|επιβεβαίωσης)"),
        giving_verbs=(
            r"\bστείλ", r"\bαπαντ", r"\bπείτε\b", r"\bδώστε\b", r"\bγράψτε\b", r"\bαναφέρετε\b",
            r"\bενημερώστε\b", r"\bχρειαζόμαστε\b", r"\bποιος\s+είναι\b",
        ),
        entering_verbs=(r"\bεισάγ", r"\bπληκτρολογ", r"\bσυμπληρώστε\b", r"\bεπιβεβαιώστε\b", r"\bκαταχωρ"),
        negations=(r"\bμην\b", r"\bδεν\b", r"\bποτέ\b", r"\bουδέποτε\b", r"\bκανέν", r"\bπροσοχή\b", r"\bαπάτ"),
    ),
}


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One folded pattern matching any of the given ones."""
    return re.compile("|".join(f"(?:{fold(pattern)})" for pattern in patterns))


_COMPILED = {
    language: {
        "secrets": _compile(rules.secrets),
        "one_time_codes": _compile(rules.one_time_codes),
        "giving_verbs": _compile(rules.giving_verbs),
        "any_verbs": _compile(rules.giving_verbs + rules.entering_verbs),
        "negations": _compile(rules.negations),
    }
    for language, rules in _RULES.items()
}


def _as_written(sentence: str, folded: str, match: re.Match[str]) -> str:
    """The matched words as the sender wrote them (folding keeps length for these scripts)."""
    if len(folded) == len(sentence):
        return sentence[match.start() : match.end()].strip()
    return match.group(0).strip()


# Every kind of data of every language, with the sets of literals every match must contain
# one of each. A sentence can only be a request when one of these patterns matches it. One
# big alternation is slow in Python's regex engine (every alternative is tried at every
# position); the literals, merged into one prefix tree, are found in one quick pass, and
# then only the patterns whose literals are all present are searched.
_DataPattern = tuple[tuple[frozenset[str], ...], re.Pattern[str]]
_DATA_WORDING = tuple(fold(pattern) for rules in _RULES.values() for pattern in rules.secrets + rules.one_time_codes)
_DATA_PATTERNS: tuple[_DataPattern, ...] = tuple(
    (required_literal_sets(pattern), re.compile(f"(?:{pattern})")) for pattern in _DATA_WORDING
)
_ANY_DATA_LITERAL = literal_gate(_DATA_WORDING)


def _patterns_by_literal() -> dict[str, tuple[_DataPattern, ...]]:
    """Each literal of the gate with the data patterns whose gate literals include it."""
    grouped: dict[str, list[_DataPattern]] = {}
    for wording, entry in zip(_DATA_WORDING, _DATA_PATTERNS):
        for literal in sorted(required_literals(wording) or ()):
            grouped.setdefault(literal, []).append(entry)
    return {literal: tuple(entries) for literal, entries in grouped.items()}


# One substring test per literal instead of one per pattern; a pattern is searched only when
# its other literal sets are present too. Patterns without known literals are always searched.
_DATA_PATTERNS_BY_LITERAL = _patterns_by_literal()
_UNGATED_DATA_PATTERNS = tuple(pattern for literal_sets, pattern in _DATA_PATTERNS if not literal_sets)


_ASCII_DATA_LITERALS = tuple(literal for literal in _DATA_PATTERNS_BY_LITERAL if literal.isascii())
# Words (as written) of ASCII texts known to hold no ASCII data literal, lower-cased.
_WORDS_WITHOUT_DATA: set[str] = set()
_WORDS_WITHOUT_DATA_LIMIT = 20_000


@lru_cache(maxsize=4096)
def _word_literals(word: str) -> tuple[str, ...]:
    """The ASCII data literals in the lower-cased word."""
    lowered = word.lower()
    return tuple(literal for literal in _ASCII_DATA_LITERALS if literal in lowered)


def _ascii_literals_in(text: str) -> set[str]:
    """For an ASCII text: the data literals in its folded form (lower case).

    The literals are letters and digits only, so any occurrence lies inside one run of letters
    and digits, and every such run lies inside one of the text's words: testing the words is
    exact, and a memo of words without literals settles the usual text by set operations.
    """
    found: set[str] = set()
    for word in word_set(text).difference(_WORDS_WITHOUT_DATA):
        if word.isdigit():
            continue  # the literals all have letters; numbers are rarely seen twice, so not memoized
        literals = _word_literals(word)
        if literals:
            found.update(literals)
            continue
        if len(_WORDS_WITHOUT_DATA) >= _WORDS_WITHOUT_DATA_LIMIT:
            _WORDS_WITHOUT_DATA.clear()  # keeps the memo bounded; it refills with the words in use
        _WORDS_WITHOUT_DATA.add(word)
    return found


# The word test above relies on this; it holds for the patterns as written.
if not all(literal.isalnum() and not literal.isdigit() for literal in _ASCII_DATA_LITERALS):
    raise RuntimeError("pii_request: every ASCII data literal must be letters and digits with a letter")


def _mentions_data(text: str) -> bool:
    """True when some sentence of the text may name sensitive data (no false negatives).

    Searched in the whole folded text with links blanked out, which is what the sentences
    are cut from: fold works character by character across the sentence ends and spaces
    between them, and those are word boundaries just like a sentence's edges, so any match
    inside one sentence is also a match in the whole text.
    """
    plain = without_links(text)
    if _ANY_DATA_LITERAL is not None and plain.isascii():
        # Only the patterns of the literals present can match (see _ascii_literals_in).
        present = _ascii_literals_in(text)
        if not present:
            return False  # the usual case
        folded = fold(plain)
        return any(
            may_match(folded, literal_sets, pattern)
            for literal in present
            for literal_sets, pattern in _DATA_PATTERNS_BY_LITERAL[literal]
        )
    folded = fold(plain)
    if _ANY_DATA_LITERAL is not None and _ANY_DATA_LITERAL.search(folded) is None:
        return False  # a left-to-right search finds a literal wherever any one occurs
    for literal, entries in _DATA_PATTERNS_BY_LITERAL.items():
        if literal in folded:
            for literal_sets, pattern in entries:
                if may_match(folded, literal_sets, pattern):
                    return True
    return any(pattern.search(folded) for pattern in _UNGATED_DATA_PATTERNS)


def find_requests(text: str, own_domains: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """Sentences that ask for personal data: (language, the data as written, sentence)."""
    if not _mentions_data(text):
        return []
    secret_verbs = "any_verbs" if has_foreign_link(text, own_domains) else "giving_verbs"
    requests = []
    for sentence in sentences(text):
        folded = fold(sentence)
        for language, patterns in _COMPILED.items():
            if patterns["negations"].search(folded):
                continue
            secret = patterns["secrets"].search(folded)
            if secret and patterns[secret_verbs].search(folded):
                requests.append((language, _as_written(sentence, folded, secret), sentence))
                break
            code = patterns["one_time_codes"].search(folded)
            if code and patterns["giving_verbs"].search(folded):
                requests.append((language, _as_written(sentence, folded, code), sentence))
                break
    return requests


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Refuse messages that ask the customer for card numbers, passwords, IDs or account numbers."""
    requests = find_requests(text, context.policy.tracked_link_domains)
    if not requests:
        return []
    asked = ", ".join(dict.fromkeys(f'"{what.strip()}" ({language_name(language)})' for language, what, _ in requests))
    return [
        LintFinding(
            CHECK,
            Severity.ERROR,
            f"The message asks the customer for personal or secret data: {asked}. "
            "Customers must never be asked for this by text; it is how phishing works.",
            suggestion="Invite the customer to visit a branch or call you on your published number instead.",
        )
    ]
