"""encoding (L1): characters that needlessly force UCS-2.

A warning is given only when every character forcing UCS-2 has a GSM-7
replacement (curly quotes, dashes, "…", non-breaking spaces, accented Latin
letters, Greek capitals that look Latin): then swapping them makes the text
GSM-7, fitting 160 characters per segment instead of 70. When some character
has no replacement (Korean, lowercase Greek, emoji) the text must be UCS-2
anyway: that is simply how the language is sent, so there is no finding.
"""

from __future__ import annotations

from mannerly.kit.sms import UCS_2, analyze, apply_gsm_replacements, first_irreplaceable_char, sms_size
from mannerly.policy.lint._common import LintContext, sms_channel
from mannerly.policy.types import LintFinding, Severity

CHECK = "encoding"


def _shown(char: str) -> str:
    """A character as the detail text shows it (invisible ones by code point)."""
    if char.isprintable() and not char.isspace():
        return char
    return f"U+{ord(char):04X}"


def _shown_replacement(replacement: str) -> str:
    """A replacement as the detail text shows it."""
    if replacement == "":
        return "(remove)"
    if replacement == " ":
        return "space"
    return replacement


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn when replaceable characters alone push the text to UCS-2."""
    if not sms_channel(context):
        return []
    # Quick exits first: GSM-7 text, or a character without replacement (Korean, lowercase
    # Greek, emoji), mean no finding; only then is the full list of characters needed.
    if sms_size(text)[0] != UCS_2 or first_irreplaceable_char(text) is not None:
        return []
    info = analyze(text)
    if info.encoding != UCS_2 or not info.non_gsm_chars:
        return []
    if any(replacement is None for _, replacement in info.non_gsm_chars):
        return []
    swaps = ", ".join(f"{_shown(char)} → {_shown_replacement(replacement)}" for char, replacement in info.non_gsm_chars)
    fixed_text = apply_gsm_replacements(text)
    fixed_segments = analyze(fixed_text).segments
    detail = f"These characters force UCS-2, which fits 70 characters per segment instead of 160: {swaps}."
    if fixed_segments < info.segments:
        detail += f" Replaced, the text takes {fixed_segments} segment(s) instead of {info.segments}."
    else:
        detail += " Replaced, the text is GSM-7 and leaves more room."
    return [LintFinding(CHECK, Severity.WARNING, detail, suggestion=fixed_text)]
