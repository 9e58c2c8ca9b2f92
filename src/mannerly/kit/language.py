"""A cheap guess at the language of a short text from its script, for choosing localized wording."""

from __future__ import annotations

# Languages written in Latin letters among those Mannerly localizes.
LATIN_LANGUAGES = frozenset({"en", "id", "ms", "es", "fr", "de", "pt", "it", "nl", "tl", "vi", "tr"})


def script_counts(text: str) -> dict[str, int]:
    """How many letters of each script (hangul, greek, latin, other) a text has."""
    counts = {"hangul": 0, "greek": 0, "latin": 0, "other": 0}
    for char in text:
        if not char.isalpha():
            continue
        code = ord(char)
        if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
            counts["hangul"] += 1
        elif 0x0370 <= code <= 0x03FF or 0x1F00 <= code <= 0x1FFF:
            counts["greek"] += 1
        elif code < 0x0250:
            counts["latin"] += 1
        else:
            counts["other"] += 1
    return counts


def guess_language(text: str, *preferences: str | None) -> str:
    """ko or el when the text is mostly in that script; for Latin text, the first Latin-script preference, else en."""
    counts = script_counts(text)
    letters = sum(counts.values())
    if letters:
        if counts["hangul"] * 2 >= letters:
            return "ko"
        if counts["greek"] * 2 >= letters:
            return "el"
    candidates = [language for language in preferences if language]
    if counts["latin"] * 2 >= letters and letters:
        return next((language for language in candidates if language in LATIN_LANGUAGES), "en")
    return candidates[0] if candidates else "en"
