"""STOP / START / HELP keywords in English, Korean, Indonesian and Greek (SPEC P4).

Pure: classify_keyword() reads one inbound text and says whether it is an
opt-out, an opt-in or a request for help; confirmation_text() gives the one
reply that confirms it.

Two forms are recognised:

* Exact: the whole message is a keyword, optionally with a topic keyword
  ("STOP PROMO", "중지 프로모션", Korean also "프로모션 중지") and optionally
  with short filler words ("stop it", "stop now", "stop please", "중지해 주세요",
  "berhenti dong", "ΣΤΟΠ παρακαλώ"). Any other word after the keyword makes it
  not exact ("stop by at 5"), and the fuzzy form decides.
* Fuzzy: a sentence with a clear opt-out intent: a verb of stopping or
  refusing together with a messaging object ("please stop texting me",
  "문자 보내지 마세요", "jangan kirim sms lagi", "μη μου στέλνετε άλλο"), or an
  explicit unsubscribe phrase ("unsubscribe me", "remove me from your list").
  Fuzzy matches are always STOP and always global (topic None): when in
  doubt which topic a customer meant, stopping everything is the polite
  reading. START and HELP are recognised in the exact form only, so
  "Help me find my order" is a question for a person, not the HELP keyword.

Deliberately not keywords: YES (the double opt-in answer, handled by the
consent flow) and Korean 취소 (cancel), which customers use to cancel
appointments and orders.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "KeywordKind",
    "KeywordMatch",
    "classify_keyword",
    "confirmation_text",
    "fold_text",
    "CONFIRMATION_LANGUAGES",
]


class KeywordKind(StrEnum):
    """What a keyword asks for."""

    STOP = "stop"
    START = "start"
    HELP = "help"


@dataclass(frozen=True)
class KeywordMatch:
    """A recognised keyword in an inbound message."""

    kind: KeywordKind
    topic: str | None  # topic name when "STOP <topic keyword>" names one
    language: str  # language the keyword belongs to: en, ko, id, el
    matched: str  # what was recognised, in folded form


# ---------------------------------------------------------------------------
# Keyword tables. Written in plain form; they are folded like the message
# before comparing, so case and accents here do not matter.

_KEYWORDS: dict[str, dict[KeywordKind, tuple[str, ...]]] = {
    "en": {
        # The CTIA list of opt-out words plus common variants.
        KeywordKind.STOP: (
            "stop", "stopall", "stop all", "unsubscribe", "unsub", "cancel", "end", "quit",
            "optout", "opt out", "revoke",
        ),
        KeywordKind.START: ("start", "unstop", "subscribe", "resubscribe", "optin", "opt in"),
        KeywordKind.HELP: ("help", "info"),
    },
    "ko": {
        KeywordKind.STOP: (
            "중지", "수신거부", "수신 거부", "거부", "그만", "해지", "수신중지", "수신 중지",
            "수신해지", "구독취소", "구독해지",
        ),
        KeywordKind.START: ("시작", "수신동의", "수신 동의", "재개", "수신재개", "수신 재개"),
        KeywordKind.HELP: ("도움", "도움말"),
    },
    "id": {
        # UNREG / REG are how Indonesian SMS services are (un)subscribed.
        KeywordKind.STOP: (
            "berhenti", "stop", "batal", "keluar", "hentikan", "unreg", "berhenti langganan",
            "stop langganan",
        ),
        KeywordKind.START: ("mulai", "lanjut", "daftar", "reg", "berlangganan"),
        KeywordKind.HELP: ("bantuan", "tolong", "bantu", "info"),
    },
    "el": {
        # ΣΤΟΠ is STOP typed on a Greek keyboard layout.
        KeywordKind.STOP: ("στοπ", "διακοπή", "τέλος", "διαγραφή", "απεγγραφή", "σταμάτα", "σταματήστε"),
        KeywordKind.START: ("έναρξη", "ξεκίνα", "εγγραφή"),
        KeywordKind.HELP: ("βοήθεια", "πληροφορίες"),
    },
}  # fmt: skip

# Language order used when one word is a keyword in several languages
# ("stop", "info") and no hint is given.
_LANGUAGE_ORDER = ("en", "ko", "id", "el")

# Short words that may stand around a keyword without changing its meaning:
# "stop it", "stop now", "please stop", "berhenti dong", "중지 부탁드립니다".
_FILLER_WORDS: frozenset[str] = frozenset(
    """
    it now please pls plz all thanks thank you thx ty asap immediately ok okay this that
    these everything already right away me
    요 주세요 해주세요 해 합니다 할게요 해요 해줘 해줘요 하세요 해주십시오 하겠습니다 부탁
    부탁드립니다 부탁합니다 부탁해요 바랍니다 감사합니다 전부 모두 다 좀 처리 처리해주세요 시켜주세요
    은 는 을 를 도 만
    dong saja aja ya sekarang semua segera terima kasih makasih mohon tolong
    παρακαλω τωρα ολα ευχαριστω αμεσα
    """.split()
)

# Korean writes verb endings and particles onto the keyword without a space
# ("수신거부합니다", "중지요", "프로모션은"); these are split off when the rest is
# a known keyword or topic. Longest first so "해주세요" wins over "요".
_KOREAN_SUFFIXES: tuple[str, ...] = tuple(
    sorted(
        """
        해주세요 해주십시오 하겠습니다 부탁드립니다 부탁합니다 부탁해요 시켜주세요 처리해주세요
        합니다 할게요 해줘요 하세요 해요 해줘 해 요 은 는 을 를 도 만
        """.split(),
        key=len,
        reverse=True,
    )
)

# Greek and Cyrillic letters that look like Latin ones (after case folding),
# so "SΤΟΡ" typed with Greek capitals still reads as STOP.
_LOOKALIKES = str.maketrans(
    {
        "α": "a", "β": "b", "ε": "e", "ζ": "z", "η": "h", "ι": "i", "κ": "k", "μ": "m",
        "ν": "n", "ο": "o", "ρ": "p", "τ": "t", "υ": "y", "χ": "x",
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ѕ": "s",
    }
)  # fmt: skip

_APOSTROPHES = re.compile(r"['\u2019\u02bc`\u00b4]")


def fold_text(text: str) -> str:
    """Fold a message for matching: width, case, accents, apostrophes, punctuation, emoji, spacing."""
    # NFKC turns full-width "ＳＴＯＰ" into "STOP"; casefold also maps the
    # Greek final sigma to σ, so "ΤΕΛΟΣ" and "τέλος" meet.
    text = unicodedata.normalize("NFKC", text).casefold()
    # Remove combining marks (Greek tonos, Indonesian/English accents). Hangul
    # decomposes into letters, not marks, so it survives the round trip.
    decomposed = unicodedata.normalize("NFD", text)
    text = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))
    # "don't" -> "dont": an apostrophe joins rather than splits a word.
    text = _APOSTROPHES.sub("", text)
    # Punctuation, symbols (emoji), controls and separators become spaces.
    spaced = "".join(" " if unicodedata.category(ch)[0] in "PSCZ" else ch for ch in text)
    return " ".join(spaced.split())


def _latinized(folded: str) -> str:
    """Replace Greek/Cyrillic look-alikes of Latin letters with the Latin letters."""
    return folded.translate(_LOOKALIKES)


def _has_hangul(text: str) -> bool:
    """True when the text contains a Hangul syllable."""
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def _guess_language(word: str, hint: str | None) -> str:
    """The language of a workspace keyword, from its script, else the hint, else English."""
    if _has_hangul(word):
        return "ko"
    if any("\u0370" <= ch <= "\u03ff" for ch in word):
        return "el"
    return hint or "en"


# A phrase (tuple of folded words) -> its kind and the languages it belongs to.
_PhraseTable = dict[tuple[str, ...], tuple[KeywordKind, tuple[str, ...]]]


def _builtin_phrases() -> _PhraseTable:
    """Fold the built-in keyword tables into one phrase table."""
    table: _PhraseTable = {}
    for language in _LANGUAGE_ORDER:
        for kind, words in _KEYWORDS[language].items():
            for word in words:
                phrase = tuple(fold_text(word).split())
                known_kind, languages = table.get(phrase, (kind, ()))
                table[phrase] = (known_kind, languages + (language,))
    return table


_BUILTIN_PHRASES: _PhraseTable = _builtin_phrases()


def _phrase_table(extra: Mapping[KeywordKind, Iterable[str]], hint: str | None) -> _PhraseTable:
    """The built-in phrases plus a workspace's extra keywords (which win on conflict)."""
    if not extra:
        return _BUILTIN_PHRASES
    table = dict(_BUILTIN_PHRASES)
    for kind, words in extra.items():
        for word in words:
            phrase = tuple(fold_text(word).split())
            if phrase:
                table[phrase] = (KeywordKind(kind), (_guess_language(word, hint),))
    return table


def _pick_language(languages: tuple[str, ...], hint: str | None) -> str:
    """The hinted language when the keyword belongs to it, else the keyword's first language."""
    if hint and hint in languages:
        return hint
    return languages[0]


# ---------------------------------------------------------------------------
# Exact form


def _split_korean_suffixes(words: list[str], known: set[str]) -> list[str]:
    """Split verb endings and particles off Korean words whose stem is a keyword or topic."""
    result: list[str] = []
    for word in words:
        if word in known or not _has_hangul(word):
            result.append(word)
            continue
        for suffix in _KOREAN_SUFFIXES:
            stem = word[: -len(suffix)]
            if word.endswith(suffix) and stem in known:
                result.extend([stem, suffix])
                break
        else:
            result.append(word)
    return result


def _longest_phrase_at(words: list[str], start: int, table: _PhraseTable) -> int:
    """Length of the longest keyword phrase starting at words[start], 0 when none."""
    for length in range(min(4, len(words) - start), 0, -1):
        if tuple(words[start : start + length]) in table:
            return length
    return 0


def _topic_of(words: list[str], topics: Mapping[str, str]) -> str | None:
    """The topic name when the words (spaced or run together) are a topic keyword."""
    if not words:
        return None
    return topics.get(" ".join(words)) or topics.get("".join(words))


def _is_filler(word: str, kind: KeywordKind, table: _PhraseTable) -> bool:
    """True for a filler word or a repetition of a keyword of the same kind ("stop stop")."""
    if word in _FILLER_WORDS:
        return True
    entry = table.get((word,))
    return entry is not None and entry[0] is kind


def _exact_match(
    folded: str, table: _PhraseTable, topics: Mapping[str, str], hint: str | None
) -> KeywordMatch | None:
    """Match a message that is only a keyword, with an optional topic and filler words."""
    known = {word for phrase in table for word in phrase} | set(topics)
    words = _split_korean_suffixes(folded.split(), known)
    # Try the message as written, then with leading politeness dropped, so
    # "tolong" alone is HELP while "tolong berhenti" is STOP.
    starts = [0]
    first_content = next((i for i, word in enumerate(words) if word not in _FILLER_WORDS), None)
    if first_content:
        starts.append(first_content)
    for start in starts:
        match = _keyword_then_rest(words, start, table, topics, hint)
        if match:
            return match
    # Korean puts the object first: "프로모션 중지", "광고 수신거부".
    if words and _has_hangul(folded):
        for split in range(1, len(words)):
            topic = _topic_of(words[:split], topics)
            # Skip particles between the topic and the keyword ("프로모션은 중지").
            at = split
            while at < len(words) and words[at] in _FILLER_WORDS:
                at += 1
            length = _longest_phrase_at(words, at, table)
            if topic and length:
                kind, languages = table[tuple(words[at : at + length])]
                rest = words[at + length :]
                if all(_is_filler(word, kind, table) for word in rest):
                    matched = " ".join(words[: at + length])
                    return KeywordMatch(kind, topic, _pick_language(languages, hint), matched)
    return None


def _keyword_then_rest(
    words: list[str], start: int, table: _PhraseTable, topics: Mapping[str, str], hint: str | None
) -> KeywordMatch | None:
    """Match keyword at words[start] followed only by a topic keyword and/or filler."""
    length = _longest_phrase_at(words, start, table)
    if not length:
        return None
    phrase = tuple(words[start : start + length])
    kind, languages = table[phrase]
    language = _pick_language(languages, hint)
    rest = words[start + length :]
    # The topic keyword is checked before filler, so a topic named "IT" still works.
    topic = _topic_of(rest, topics)
    if topic is None:
        core = [word for word in rest if not _is_filler(word, kind, table)]
        if core:
            topic = _topic_of(core, topics)
            if topic is None:
                return None
    return KeywordMatch(kind, topic, language, " ".join(phrase))


# ---------------------------------------------------------------------------
# Fuzzy form: opt-out intent in a sentence. Patterns run on folded text
# (lowercase, no accents, no apostrophes, single spaces).

# Words that may end an opt-out sentence: "don't text me anymore please".
_EN_TAIL = r"(?:\s+(?:again|anymore|any\s+more|ever|please|pls|plz|thanks|thank\s+you|thx|ok|okay|here|now))*\s*$"
_EN_MESSAGES = (
    r"(?:texts?|txts?|messages?|msgs?|sms(?:es)?|promos?|promotions?|ads|adverts?|advertising|"
    r"marketing|offers?|spam|notifications?|alerts?|reminders?|updates?)"
)
_EN_OBJECT = rf"(?:{_EN_MESSAGES}|these|this|them|it|stuff|junk|things|crap)"
_EN_DETERMINERS = r"(?:(?:any|your|the|these|those|this|all|of|more|such|other|another|these\s+kind\s+of)\s+)*"

# Words before a stop phrase that turn it around: "why did you stop texting
# me", "don't stop sending reminders", "jangan berhenti kirim", "γιατί σταματήσατε".
_NEGATION_BEFORE = re.compile(
    r"(?:^|\s)(?:why|did|didnt|dont|do\s+not|not|never|wont|"
    r"jangan|kenapa|mengapa|tidak|gak|nggak|"
    r"μη|μην|γιατι|δεν)(?:\s+\S+){0,2}\s*$"
)


def _pattern(language: str, regex: str, negatable: bool = False) -> tuple[str, re.Pattern[str], bool]:
    """One fuzzy pattern: its language, compiled regex, and whether a negation just before cancels it."""
    # Folded text never holds a final sigma; accept either spelling in patterns.
    return (language, re.compile(regex.replace("ς", "σ")), negatable)


_FUZZY_PATTERNS: list[tuple[str, re.Pattern[str], bool]] = [
    # --- English
    _pattern("en", r"\b(?:stop|quit|cease)\s+(?:texting|txting|messaging|msging|spamming|contacting|bothering|pestering|harassing)\b", True),
    _pattern("en", rf"\b(?:stop|quit|cease)\s+(?:sending|send)\s+(?:(?:me|us)\s+)?{_EN_DETERMINERS}{_EN_OBJECT}\b", True),
    _pattern("en", rf"\b(?:stop|quit)\s+sending(?:\s+(?:me|us))?{_EN_TAIL}", True),
    _pattern("en", rf"\bstop\s+{_EN_DETERMINERS}{_EN_MESSAGES}\b", True),
    _pattern("en", rf"\b(?:dont|do\s+not|never)\s+(?:ever\s+)?(?:text|txt|message|msg|sms|contact|spam|bother)\s+(?:me|us|this\s+number){_EN_TAIL}"),
    _pattern("en", rf"\b(?:dont|do\s+not|never)\s+(?:ever\s+)?send\s+(?:me|us)\s+{_EN_DETERMINERS}{_EN_MESSAGES}\b"),
    _pattern("en", r"\bno\s+more\s+(?:texts|txts|messages|msgs|sms|promos|ads|spam|marketing)\b"),
    _pattern("en", rf"\b(?:i|we)\s+(?:dont|do\s+not|no\s+longer)\s+want\s+(?:to\s+(?:get|receive)\s+)?{_EN_DETERMINERS}{_EN_MESSAGES}\b"),
    _pattern("en", r"\b(?:unsubscribe|unsub|optout|opt\s+(?:me\s+)?out)\b", True),
    _pattern(
        "en",
        r"\b(?:remove|take|delete|drop|erase|get)\s+(?:me|my\s+(?:number|phone(?:\s+number)?|contact|details|info))\s+"
        r"(?:from|off)\s+(?:(?:your|the|this|all|my|of|these|any|texting|mailing|sms|contact)\s+)*"
        r"(?:list|lists|database|system|texts|messages|sms)\b"
    ),
    _pattern("en", rf"\b(?:remove|delete|erase)\s+my\s+(?:number|phone\s+number|contact){_EN_TAIL}"),
    # --- Korean (spacing in Korean is loose, so these run on the text with spaces removed)
    _pattern("ko", r"(?:수신|문자|광고|메시지|메세지|알림)(?:을|를)?(?:거부|중지|차단|해지|철회|사절)"),
    _pattern("ko", r"(?:문자|메시지|메세지|광고|연락|sms)(?:을|를|는|은|좀)?(?:더이상|이제|그만|다시는|앞으로)?(?:는)?(?:보내|발송하|전송하|연락하)지(?:마|말|않)"),
    _pattern("ko", r"(?:더이상|이제|다시는|앞으로)(?:는)?(?:보내|발송하|전송하|연락하)지(?:마|말|않)"),
    _pattern("ko", r"그만(?:좀)?(?:보내|발송|연락)"),
    _pattern("ko", r"연락(?:하지|주지)(?:마|말)"),
    # --- Indonesian
    _pattern(
        "id",
        r"\bjangan\s+(?:lagi\s+)?(?:kirim|kirimi|kirimin|kirimkan|mengirim|mengirimi|mengirimkan|sms|spam|hubungi|menghubungi|ganggu|wa|chat)"
        r"(?:\s+(?:saya|aku|kami|gue|gw|ke\s+saya|ke\s+nomor\s+saya))?"
        r"(?:\s+(?:sms|pesan|promo|promosi|iklan|wa|whatsapp|chat|notifikasi|info|informasi|penawaran|lagi))+\b"
    ),
    _pattern("id", r"\bjangan\s+(?:hubungi|menghubungi|sms|spam|ganggu|mengganggu)(?:\s+(?:saya|aku|kami|gue|gw))?(?:\s+(?:ya|dong|lagi|tolong|please))*\s*$"),
    _pattern("id", r"\b(?:berhenti|stop|setop|hentikan)\s+(?:kirim|mengirim|mengirimi|mengirimkan|kirimi|kirimin|kirimkan|sms|spam|menghubungi|hubungi)\b", True),
    _pattern("id", r"\b(?:berhenti|stop|setop|hentikan|batalkan)\s+(?:(?:semua|saja|ini)\s+)?(?:sms|pesan|promo|promosi|iklan|langganan|berlangganan|notifikasi|spam)\b", True),
    _pattern("id", r"\b(?:tidak|nggak|ngga|gak|ga|enggak|tak)\s+(?:mau|ingin|perlu)\s+(?:lagi\s+)?(?:terima|menerima|dapat|mendapat|dapet|dikirimi)\s+(?:\S+\s+)?(?:sms|pesan|promo|promosi|iklan|notifikasi|spam)\b"),
    _pattern("id", r"\b(?:hapus|hapuskan|keluarkan)\s+(?:nomor|nomer|no)\s+(?:hp\s+)?(?:saya|aku)\b"),
    _pattern("id", r"\bkeluarkan\s+(?:saya|aku)\s+dari\s+(?:daftar|list|grup)\b"),
    # --- Greek (folded: no tonos, σ for final sigma)
    _pattern(
        "el",
        r"\bσταματ\S*\s+(?:να\s+)?(?:(?:μου|μας)\s+)?(?:στελν\S*|στειλ\S*|ενοχλ\S*)"
        r"(?:\s+(?:μου|μας))?(?:\s+(?:αλλα|αλλο|τα|αυτα|ολα|αυτο))*"
        r"(?:\s+(?:μηνυματα|μηνυμα|μυνηματα|sms|διαφημισεις|διαφημιστικα|προσφορες|ειδοποιησεις)\b|(?:\s+(?:πια|παρακαλω|ευχαριστω))*\s*$)",
        True,
    ),
    _pattern(
        "el",
        r"\bμην?\s+(?:μου|μας)\s+(?:ξανα)?(?:στελν\S*|στειλ\S*)"
        r"(?:\s+(?:αλλο|αλλα|ξανα|πια|ποτε|μηνυματα|μηνυμα|sms|διαφημισεις)\b|(?:\s+(?:παρακαλω|ευχαριστω))*\s*$)"
    ),
    _pattern("el", r"\bσταματ\S*\s+(?:(?:τα|αυτα|ολα|τις|αυτες)\s+)*(?:μηνυματα|μυνηματα|sms|διαφημισεις|προσφορες)\b", True),
    _pattern("el", r"\bδιαγρα(?:ψτε|ψε|φη|φηκα)\s+(?:με\b|το\s+νουμερο\s+μου|τον\s+αριθμο\s+μου|απο\s+(?:τη|την)\s+λιστα)"),
    _pattern("el", r"\bαπεγγρα(?:φ|ψ)\S*"),
    _pattern("el", r"\bδεν\s+(?:θελω|επιθυμω)\s+(?:να\s+(?:λαμβανω|παιρνω)\s+)?(?:(?:αλλα|αλλο|αυτα|τα|αλλα\s+πια)\s+)*(?:μηνυματα|μυνηματα|sms|διαφημισεις|προσφορες|ενημερωσεις)\b"),
    _pattern("el", r"\bβγαλτε\s+με\s+απο\b"),
]  # fmt: skip


def _fuzzy_match(folded: str) -> KeywordMatch | None:
    """Find a clear opt-out sentence; always a global STOP."""
    despaced = folded.replace(" ", "")
    for language, pattern, negatable in _FUZZY_PATTERNS:
        text = despaced if language == "ko" else folded
        for found in pattern.finditer(text):
            if negatable and _NEGATION_BEFORE.search(text[: found.start()]):
                continue
            return KeywordMatch(KeywordKind.STOP, None, language, found.group(0).strip())
    return None


# ---------------------------------------------------------------------------


def classify_keyword(
    text: str,
    topic_keywords: Mapping[str, str] = {},  # noqa: B006 - read-only default
    extra: Mapping[KeywordKind, Iterable[str]] = {},  # noqa: B006 - read-only default
    *,
    language_hint: str | None = None,
) -> KeywordMatch | None:
    """Say whether an inbound text is a STOP, START or HELP keyword (exact or fuzzy), else None.

    topic_keywords maps a topic keyword ("PROMO") to a topic name; extra adds a
    workspace's own keywords; language_hint (the contact's language) picks the
    language when a keyword belongs to several ("STOP" is English and Indonesian).
    """
    folded = fold_text(text or "")
    if not folded:
        return None
    table = _phrase_table(extra, language_hint)
    topics = {fold_text(keyword): name for keyword, name in topic_keywords.items() if fold_text(keyword)}
    latin = _latinized(folded)
    for candidate in dict.fromkeys((folded, latin)):
        match = _exact_match(candidate, table, topics, language_hint)
        if match:
            return match
    return _fuzzy_match(folded)


# ---------------------------------------------------------------------------
# Confirmation replies. Keywords named in a reply are ones classify_keyword
# understands in that language. English replies stay within one GSM-7
# segment for brand names up to about 30 characters.

CONFIRMATION_LANGUAGES: tuple[str, ...] = ("en", "ko", "id", "el")


def confirmation_text(
    kind: KeywordKind, language: str, brand: str | None, topic_label: str | None = None
) -> str:
    """The one reply confirming a STOP, START or HELP, in the language (English when unsupported)."""
    kind = KeywordKind(kind)
    builder = _CONFIRMATION_BUILDERS.get((language or "en").split("-")[0].lower(), _confirm_en)
    brand = brand.strip() if brand and brand.strip() else None
    topic = topic_label.strip() if topic_label and topic_label.strip() else None
    return builder(kind, brand, topic)


def _confirm_en(kind: KeywordKind, brand: str | None, topic: str | None) -> str:
    """English confirmation."""
    messages = f"{brand} messages" if brand else "our messages"
    if topic:
        messages += f" about {topic}"
    if kind is KeywordKind.STOP:
        return f"You're unsubscribed from {messages} and will get no more. Reply START to resubscribe."
    if kind is KeywordKind.START:
        return f"You're resubscribed to {messages}. Reply STOP to unsubscribe, HELP for help."
    sender = f"These messages are from {brand}. " if brand else ""
    return f"{sender}Reply STOP to unsubscribe or START to resubscribe."


def _confirm_ko(kind: KeywordKind, brand: str | None, topic: str | None) -> str:
    """Korean confirmation."""
    subject = " ".join(part for part in (brand, topic, "문자") if part)
    if kind is KeywordKind.STOP:
        return f"{subject} 수신거부가 처리되었습니다. 다시 받으시려면 '시작'이라고 답장해 주세요."
    if kind is KeywordKind.START:
        return f"{subject} 수신이 다시 시작되었습니다. 원하지 않으시면 '중지'라고 답장해 주세요."
    sender = f"{brand}에서 보낸 문자입니다. " if brand else ""
    return f"{sender}수신을 원하지 않으시면 '중지', 다시 받으시려면 '시작'이라고 답장해 주세요."


def _confirm_id(kind: KeywordKind, brand: str | None, topic: str | None) -> str:
    """Indonesian confirmation."""
    messages = "pesan"
    if topic:
        messages += f" {topic}"
    if brand:
        messages += f" dari {brand}"
    if kind is KeywordKind.STOP:
        return f"Anda telah berhenti berlangganan {messages}. Balas MULAI untuk berlangganan lagi."
    if kind is KeywordKind.START:
        return f"Anda kembali berlangganan {messages}. Balas BERHENTI untuk berhenti."
    sender = f"Pesan ini dari {brand}. " if brand else ""
    return f"{sender}Balas BERHENTI untuk berhenti berlangganan atau MULAI untuk berlangganan lagi."


def _confirm_el(kind: KeywordKind, brand: str | None, topic: str | None) -> str:
    """Greek confirmation; names STOP/START in Latin letters as Greek senders customarily do."""
    messages = "μηνύματα"
    if topic:
        messages += f" για {topic}"
    if brand:
        messages += f" από {brand}"
    if kind is KeywordKind.STOP:
        return f"Δεν θα λαμβάνετε πλέον {messages}. Απαντήστε START για να εγγραφείτε ξανά."
    if kind is KeywordKind.START:
        return f"Θα λαμβάνετε ξανά {messages}. Απαντήστε STOP για διαγραφή."
    sender = f"Τα μηνύματα είναι από {brand}. " if brand else ""
    return f"{sender}Απαντήστε STOP για διαγραφή ή START για επανεγγραφή."


_CONFIRMATION_BUILDERS = {"en": _confirm_en, "ko": _confirm_ko, "id": _confirm_id, "el": _confirm_el}
