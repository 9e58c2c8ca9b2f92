"""Shared pieces of the content checks: the context they read and small text helpers."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mannerly.policy.types import ContactState, Policy, SendRequest, Source

LANGUAGE_NAMES = {"en": "English", "ko": "Korean", "id": "Indonesian", "el": "Greek"}

# A word: letters, digits, apostrophes inside words (don't, it's).
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# Links as people write them: with a scheme, starting with www., or a bare
# host followed by a path (bit.ly/abc). The host part is captured.
URL_PATTERN = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?/[^\s<>\"]*",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Sentence ends in the four languages; ';' is also the Greek question mark.
_SENTENCE_END = re.compile(r"[.!?;\u037e。\n]+")


@dataclass(frozen=True)
class LintContext:
    """Everything a check may read besides the text itself."""

    request: SendRequest
    contact: ContactState
    policy: Policy
    language: str

    @property
    def brand(self) -> str | None:
        """The business name in the message language, if configured."""
        brand = self.policy.brand_for(self.language)
        return brand.strip() if brand and brand.strip() else None

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


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a text for matching (Hangul kept whole)."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    without_marks = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return unicodedata.normalize("NFC", without_marks)


def without_links(text: str) -> str:
    """The text with URLs and e-mail addresses blanked out, so words in them are not judged."""
    return _EMAIL.sub(" ", URL_PATTERN.sub(" ", text))


def words(text: str) -> list[str]:
    """The words of a text in order, links and e-mail addresses left out."""
    return _WORD.findall(without_links(text))


def sentences(text: str) -> list[str]:
    """The text cut into rough sentences (good enough to keep a negation with its verb)."""
    return [part.strip() for part in _SENTENCE_END.split(without_links(text)) if part.strip()]


def contains_name(text: str, name: str) -> bool:
    """True when a name appears in the text, ignoring case and accents."""
    return fold(name) in fold(text)


def language_name(code: str) -> str:
    """Readable name of a language code."""
    return LANGUAGE_NAMES.get(code, code)


def sms_channel(context: LintContext) -> bool:
    """True unless the message is explicitly sent over a channel without SMS segments."""
    return context.request.channel in (None, "sms")
