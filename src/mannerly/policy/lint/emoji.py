"""emoji (L4): too many emoji.

Counted as people see them: a flag, a keycap, a skin-toned or ZWJ-joined
sequence is one emoji. A warning when there are more than MAX_EMOJI, or when
emoji carry the message (at least two and at least as many as the words, or
emoji and no words at all).
"""

from __future__ import annotations

import re

from mannerly.policy.lint._common import LintContext, word_tuple
from mannerly.policy.types import LintFinding, Severity

CHECK = "emoji"
MAX_EMOJI = 2

# Pictograph blocks outside the Basic Multilingual Plane: always emoji.
_ASTRAL_EMOJI_RANGES = ((0x1F000, 0x1FAFF),)
_REGIONAL_INDICATORS = (0x1F1E6, 0x1F1FF)
_SKIN_TONES = (0x1F3FB, 0x1F3FF)
# Symbols in the Basic Multilingual Plane that can be emoji. Most show as
# plain text (★ ▶ → ☎ are common bullets in Korean and Greek SMS) and count
# only when followed by the emoji variation selector U+FE0F.
_BMP_CANDIDATE_RANGES = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
    (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x21AA), (0x231A, 0x23FF),
    (0x25AA, 0x25FE), (0x2600, 0x27BF), (0x2934, 0x2935), (0x2B05, 0x2B55),
    (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3299),
)
# BMP symbols shown as emoji by default (Unicode Emoji_Presentation=Yes).
_DEFAULT_EMOJI = set(
    [0x231A, 0x231B, 0x23E9, 0x23EA, 0x23EB, 0x23EC, 0x23F0, 0x23F3, 0x25FD, 0x25FE, 0x2614, 0x2615]
    + list(range(0x2648, 0x2654))
    + [0x267F, 0x2693, 0x26A1, 0x26AA, 0x26AB, 0x26BD, 0x26BE, 0x26C4, 0x26C5, 0x26CE, 0x26D4, 0x26EA]
    + [0x26F2, 0x26F3, 0x26F5, 0x26FA, 0x26FD, 0x2705, 0x270A, 0x270B, 0x2728, 0x274C, 0x274E]
    + [0x2753, 0x2754, 0x2755, 0x2757, 0x2795, 0x2796, 0x2797, 0x27B0, 0x27BF, 0x2B1B, 0x2B1C, 0x2B50, 0x2B55]
)
_ZERO_WIDTH_JOINER = "\u200d"
_VARIATION_SELECTORS = {"\ufe0e", "\ufe0f"}
_KEYCAP = "\u20e3"


def _in_ranges(char: str, ranges) -> bool:
    """True when the character's code point lies in one of the ranges."""
    code = ord(char)
    return any(start <= code <= end for start, end in ranges)


def _is_modifier(char: str) -> bool:
    """True for characters that only extend the previous emoji."""
    return char in _VARIATION_SELECTORS or char == _KEYCAP or _in_ranges(char, (_SKIN_TONES,)) or (
        0xE0020 <= ord(char) <= 0xE007F  # tag characters of subdivision flags
    )


# Every character that can start an emoji, for a quick "no emoji here" answer.
_EMOJI_START = re.compile(
    "["
    + "".join(
        f"{re.escape(chr(start))}-{re.escape(chr(end))}" for start, end in _ASTRAL_EMOJI_RANGES + _BMP_CANDIDATE_RANGES
    )
    + "]"
)


def count_emoji(text: str) -> int:
    """How many emoji a reader sees in the text."""
    # Without a keycap mark or a character that can start an emoji, the walk below counts
    # nothing; all of them lie outside ASCII.
    if text.isascii():
        return 0
    if _KEYCAP not in text and _EMOJI_START.search(text) is None:
        return 0
    count = 0
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1] if index + 1 < len(text) else ""
        if char.isdigit() or char in "#*":
            # Keycap: digit, optional selector, combining enclosing keycap.
            rest = text[index + 1 : index + 3]
            if _KEYCAP in rest:
                count += 1
                index += 1 + rest.index(_KEYCAP) + 1
                continue
            index += 1
            continue
        if _in_ranges(char, _ASTRAL_EMOJI_RANGES):
            is_emoji = True
        elif _in_ranges(char, _BMP_CANDIDATE_RANGES):
            is_emoji = ord(char) in _DEFAULT_EMOJI or following == "\ufe0f"
        else:
            is_emoji = False
        if not is_emoji:
            index += 1
            continue
        count += 1
        regional = _in_ranges(char, (_REGIONAL_INDICATORS,))
        index += 1
        if regional and index < len(text) and _in_ranges(text[index], (_REGIONAL_INDICATORS,)):
            index += 1  # a flag is two regional indicators
        # Swallow modifiers and ZWJ-joined parts of the same sequence.
        while index < len(text):
            if _is_modifier(text[index]):
                index += 1
            elif text[index] == _ZERO_WIDTH_JOINER and index + 1 < len(text):
                index += 2
            else:
                break
    return count


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn when emoji are many or carry the message."""
    emoji = count_emoji(text)
    if emoji == 0:
        return []
    word_count = len(word_tuple(text))
    too_many = emoji > MAX_EMOJI
    carrying = word_count == 0 or (emoji >= 2 and emoji >= word_count)
    if not (too_many or carrying):
        return []
    return [
        LintFinding(
            CHECK,
            Severity.WARNING,
            f"{emoji} emoji in a {word_count}-word message: emoji can look unprofessional, render "
            "differently on older phones and make the SMS use UCS-2.",
            suggestion=f"Keep at most {MAX_EMOJI} emoji and say the message in words.",
        )
    ]
