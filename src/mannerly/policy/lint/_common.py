"""Shared pieces of the content checks: the context they read and small text helpers."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from mannerly.policy.types import ContactState, Policy, SendRequest, Source

LANGUAGE_NAMES = {"en": "English", "ko": "Korean", "id": "Indonesian", "el": "Greek"}

# A word: letters, digits, apostrophes inside words (don't, it's).
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# Punctuation that ends a sentence or closes a bracket after a link rather than belonging to it.
URL_TRAILING = ".,;:!?)]}'\"»”’。"
# Links as people write them: with a scheme, starting with www., or a bare
# host followed by a path (bit.ly/abc); never ending in URL_TRAILING.
_URL_END = "[^\\s<>\"" + re.escape(URL_TRAILING) + "]"
URL_PATTERN = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]*" + _URL_END
    + r"|\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?/(?:[^\s<>\"]*" + _URL_END + ")?",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# Sentence ends in the four languages; ';' is also the Greek question mark.
_SENTENCE_END = re.compile(r"[.!?;\u037e。\n]+")


@dataclass(frozen=True, init=False)
class LintContext:
    """Everything a check may read besides the text itself."""

    request: SendRequest
    contact: ContactState
    policy: Policy
    language: str

    def __init__(self, request: SendRequest, contact: ContactState, policy: Policy, language: str) -> None:
        """Set the fields straight into the instance dict (one per message; quicker than object.__setattr__ each)."""
        fields = self.__dict__
        fields["request"] = request
        fields["contact"] = contact
        fields["policy"] = policy
        fields["language"] = language

    @property
    def brand(self) -> str | None:
        """The business name in the message language, if configured."""
        # Several checks ask; it is worked out once per message and kept in the instance
        # dict (the dataclass is frozen against field changes, not against this memo).
        memo = self.__dict__
        if "_brand" not in memo:
            brand = self.policy.brand_for(self.language)
            memo["_brand"] = brand.strip() if brand and brand.strip() else None
        return memo["_brand"]

    @property
    def marketing(self) -> bool:
        """True when the message sells."""
        return self.request.topic.marketing

    @property
    def campaign(self) -> bool:
        """True when the message is part of a campaign."""
        return self.request.source is Source.CAMPAIGN

    @property
    def text_locked(self) -> bool:
        """True when the text is an approved WhatsApp template that fixers must not change."""
        return self.request.whatsapp_template is not None

    @property
    def korean_advertising(self) -> bool:
        """True when Korean advertising law applies (marketing to a contact in Korea)."""
        return (self.contact.country or "").upper() == "KR" and self.marketing


@cache
def _mark_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes of the BMP's nonspacing marks (Mn) and of BMP characters with a mark.

    A character "with a mark" is a mark, or holds one in its NFD, or in the NFD of its
    casefold: so a BMP text without any such character has no mark to drop in fold().
    Built from this Python's own Unicode database on first use (a scan of the BMP, a
    few milliseconds), so fold() stays exact without a per-character Python loop.
    """
    marks: list[int] = []
    marked: list[int] = []
    for code in range(0x80, 0x10000):
        char = chr(code)
        if unicodedata.category(char) == "Mn":
            marks.append(code)
            marked.append(code)
        elif (unicodedata.decomposition(char)[:1] not in ("", "<") and _holds_mark(char)) or (
            char.casefold() != char and _holds_mark(char.casefold())
        ):
            marked.append(code)
    return re.compile(character_class(marks)), re.compile(character_class(marked))


def _holds_mark(text: str) -> bool:
    """True when the NFD of the text holds a nonspacing mark."""
    return any(unicodedata.category(part) == "Mn" for part in unicodedata.normalize("NFD", text))


def character_class(codes: list[int]) -> str:
    """A regex character class of the given sorted code points, as ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = (re.escape(chr(low)) + ("" if low == high else "-" + re.escape(chr(high))) for low, high in ranges)
    return "[" + "".join(parts) + "]"


# Characters outside the Basic Multilingual Plane; fold() takes its exact slow path for them.
ASTRAL_PATTERN = re.compile("[\U00010000-\U0010FFFF]")


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Case- and accent-insensitive form of a text for matching (Hangul kept whole)."""
    # Same result as NFC(drop Mn(NFD(casefold))); cached because words repeat across messages.
    if text.isascii():
        return text.casefold()  # NFD and NFC leave ASCII alone and it has no marks
    mark, marked = _mark_patterns()
    has_marks = marked.search(text) is not None
    if has_marks and " " in text:
        # Accented text (Greek): folded piece by piece between spaces, the pieces (words) from
        # this cache. Exact: casefold works per character, and a space is a starter that nothing
        # reorders across or combines with, so NFD and NFC keep the pieces apart.
        return " ".join(map(fold, text.split(" ")))
    folded = text.casefold()
    if folded.isascii():
        return folded
    if ASTRAL_PATTERN.search(folded):
        decomposed = unicodedata.normalize("NFD", folded)
        without_marks = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
        return unicodedata.normalize("NFC", without_marks)
    if not has_marks:
        # No mark before or after decomposition, even once case-folded: NFC(NFD(x)) is NFC(x).
        return unicodedata.normalize("NFC", folded)
    return unicodedata.normalize("NFC", mark.sub("", unicodedata.normalize("NFD", folded)))


def may_hold_url(text: str) -> bool:
    """False when URL_PATTERN certainly finds nothing: each match has a "/" or starts with "www."."""
    # Only "W" lowercases to "w", just as only "W" matches "w" in the case-insensitive pattern.
    return "/" in text or "www." in text.lower()


@lru_cache(maxsize=256)
def without_links(text: str) -> str:
    """The text with URLs and e-mail addresses blanked out, so words in them are not judged."""
    # The full patterns are slow over a whole text; most texts skip them on a cheap test.
    if may_hold_url(text):
        text = URL_PATTERN.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
    return text


# ASCII letters and digits (what [^\W_] matches in ASCII) and the apostrophe stay; every
# other ASCII byte becomes a space.
_ASCII_WORD_BYTES = bytes(byte if chr(byte).isascii() and (chr(byte).isalnum() or byte == ord("'")) else ord(" ")
                          for byte in range(256))


# Punctuation often found at either end of a word; never part of a word itself.
_EDGE_PUNCTUATION = ".,;:!?()[]<>\"'’‘“”«»…。、·-"


@lru_cache(maxsize=256)
def word_tuple(text: str) -> tuple[str, ...]:
    """The words of a text as a tuple, cached: several checks read the same final text."""
    text = without_links(text)
    if text.isascii():
        # Same words as _WORD finds, at C speed: no match crosses a character that becomes a
        # space, and without an apostrophe every word is a plain run of letters and digits.
        spaced = text.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii")
        return tuple(_WORD.findall(spaced) if "'" in spaced else spaced.split())
    # No match crosses white space, and punctuation at the ends of a token cannot be part of
    # a match; so a token that is letters and digits once trimmed is exactly one word, and
    # only the other tokens need the regex (the per-character regex is slow outside ASCII).
    found: list[str] = []
    for token in text.split():
        core = token.strip(_EDGE_PUNCTUATION)
        if core.isalnum():
            found.append(core)
        else:
            found.extend(_WORD.findall(token))
    return tuple(found)


@lru_cache(maxsize=256)
def word_set(text: str) -> frozenset[str]:
    """The distinct words of a text, cached: the per-word memos of several checks start from it."""
    return frozenset(word_tuple(text))


def words(text: str) -> list[str]:
    """The words of a text in order, links and e-mail addresses left out."""
    return list(word_tuple(text))


@lru_cache(maxsize=256)
def _sentences(text: str) -> tuple[str, ...]:
    """The rough sentences of a text, cached."""
    return tuple(part.strip() for part in _SENTENCE_END.split(without_links(text)) if part.strip())


def sentences(text: str) -> list[str]:
    """The text cut into rough sentences (good enough to keep a negation with its verb)."""
    return list(_sentences(text))


def required_literals(pattern: str) -> frozenset[str] | None:
    """Strings of which every match of a regex contains at least one; None when that is not known.

    Used for exact pre-tests: when none of them is in a text, the regex cannot match it.
    """
    return _best_choice(required_literal_sets(pattern))


def required_literal_sets(pattern: str) -> tuple[frozenset[str], ...]:
    """Sets of strings such that every match of a regex contains one string of each set; () when none is known.

    A stricter pre-test than required_literals: the regex can only match when every set has
    a string in the text.
    """
    try:
        # The standard library's own regex parser (private in 3.11, hence the fallback).
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - any failure only disables the pre-test
        return ()
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return ()
    return tuple(_sequence_choices(list(parsed)))


def _best_choice(choices) -> frozenset[str] | None:
    """The choice whose shortest literal is longest (the most selective pre-test), or None."""
    if not choices:
        return None
    return max(choices, key=lambda choice: min(len(literal) for literal in choice))


def _sequence_literals(items: list) -> frozenset[str] | None:
    """required_literals of a parsed sequence: its best mandatory literal run, group or alternation."""
    return _best_choice(_sequence_choices(items))


def _sequence_choices(items: list) -> list[frozenset[str]]:
    """The mandatory literal runs, groups and alternations of a parsed sequence, each as a set of alternatives."""
    constants = re._constants  # type: ignore[attr-defined]
    choices: list[frozenset[str]] = []
    run = ""
    for op, argument in items:
        if op is constants.LITERAL:
            run += chr(argument)
            continue
        if run:
            choices.append(frozenset({run}))
            run = ""
        if op is constants.SUBPATTERN and not argument[1] and not argument[2]:  # a group without inline flags
            inner = _sequence_literals(list(argument[3]))
            if inner:
                choices.append(inner)
        elif op is constants.BRANCH:
            branches = [_sequence_literals(list(branch)) for branch in argument[1]]
            if all(branches):
                choices.append(frozenset().union(*branches))
        # Anything else (classes, repeats, assertions) may match without a fixed string: skipped.
    if run:
        choices.append(frozenset({run}))
    return choices


def may_match(text: str, literal_sets: tuple[frozenset[str], ...], pattern: re.Pattern[str]) -> bool:
    """True when the pattern matches the text; searched only when every literal set has a string in it."""
    for literals in literal_sets:
        if not any(literal in text for literal in literals):
            return False
    return pattern.search(text) is not None


def literal_gate(patterns) -> re.Pattern[str] | None:
    """One regex that finds a text position iff some required literal of some pattern is in the text.

    None when a pattern has no known literals (then there is nothing to pre-test with).
    """
    literals: set[str] = set()
    for pattern in patterns:
        found = required_literals(pattern)
        if not found:
            return None
        literals |= found
    return re.compile(_prefix_tree(sorted(literals)))


def _prefix_tree(literals: list[str]) -> str:
    """A regex for exactly the given literals, with common prefixes shared (fast to search)."""
    if "" in literals:
        rest = [literal for literal in literals if literal]
        return f"(?:{_prefix_tree(rest)})?" if rest else ""
    by_first: dict[str, list[str]] = {}
    for literal in literals:
        by_first.setdefault(literal[0], []).append(literal[1:])
    branches = [re.escape(first) + _prefix_tree(tails) for first, tails in sorted(by_first.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def contains_name(text: str, name: str) -> bool:
    """True when a name appears in the text, ignoring case and accents."""
    return fold(name) in fold(text)


def language_name(code: str) -> str:
    """Readable name of a language code."""
    return LANGUAGE_NAMES.get(code, code)


def sms_channel(context: LintContext) -> bool:
    """True unless the message is explicitly sent over a channel without SMS segments."""
    return context.request.channel in (None, "sms")
