"""opt_out_instruction (L3): marketing texts tell the customer how to stop them.

Existing opt-out wording is recognised in English, Korean, Indonesian and
Greek whatever the message language; when none is found, the instruction in
the message language (English for others) is appended. Transactional
messages are left alone. The keywords (STOP, 중지, BERHENTI, ΣΤΟΠ) must be
ones the inbound keyword handling understands.
"""

from __future__ import annotations

import re

from mannerly.policy.lint._common import LintContext, fold, language_name, literal_gate
from mannerly.policy.types import LintFinding, Severity

CHECK = "opt_out_instruction"

OPT_OUT_INSTRUCTIONS: dict[str, str] = {
    "en": "Reply STOP to opt out.",
    "ko": "무료수신거부: 중지 회신",
    "id": "Balas BERHENTI untuk berhenti.",
    "el": "Απαντήστε ΣΤΟΠ για διαγραφή.",
}

# Patterns are written naturally and folded (lower case, no accents) before use.
_OPT_OUT_WORDING: dict[str, tuple[str, ...]] = {
    "en": (
        r"\bopt[\s-]?out\b",
        r"\bunsubscribe\b",
        r"\b(?:reply|text|txt|send|respond)\s+(?:with\s+)?[\"'“‘]?(?:stop|end|cancel|quit|unsubscribe)\b",
        r"\bstop\s+to\s+(?:opt|end|stop|cancel|quit|unsubscribe)",
    ),
    "ko": (r"수신\s*거부", r"무료\s*거부", r"수신\s*차단", r"수신\s*중지", r"광고\s*거부", r"거부\s*:?\s*080"),
    "id": (
        r"berhenti\s+berlangganan",
        r"\b(?:balas|ketik|kirim)\s+[\"'“‘]?(?:stop|berhenti|unreg)\b",
        r"\bunreg\b",
    ),
    "el": (
        r"διαγραφ",
        r"απεγγραφ",
        r"\b(?:απαντήστε|απάντησε|στείλτε|στείλε)\s+[\"'“‘«]?(?:στοπ|stop)\b",
    ),
}
OPT_OUT_PATTERNS: dict[str, re.Pattern[str]] = {
    language: re.compile("|".join(fold(pattern) for pattern in patterns))
    for language, patterns in _OPT_OUT_WORDING.items()
}


# Per language, a quick exact pre-test: words one of which every match must contain.
_OPT_OUT_GATES: dict[str, re.Pattern[str] | None] = {
    language: literal_gate(fold(pattern) for pattern in patterns) for language, patterns in _OPT_OUT_WORDING.items()
}


# The same for every language at once: most texts have no opt-out wording at all, and one
# search over the text settles that.
_ANY_OPT_OUT_GATE = literal_gate(fold(pattern) for patterns in _OPT_OUT_WORDING.values() for pattern in patterns)


def opt_out_language(text: str) -> str | None:
    """The language whose opt-out wording the text contains, or None."""
    folded = fold(text)
    if _ANY_OPT_OUT_GATE is not None and _ANY_OPT_OUT_GATE.search(folded) is None:
        return None
    for language, pattern in OPT_OUT_PATTERNS.items():
        gate = _OPT_OUT_GATES.get(language)
        if gate is not None and gate.search(folded) is None:
            continue
        if pattern.search(folded):
            return language
    return None


def with_instruction(text: str, instruction: str) -> str:
    """The text with the opt-out instruction appended as its own sentence."""
    body = text.rstrip()
    if not body:
        return instruction
    if body[-1].isalnum():
        body += "."
    return f"{body} {instruction}"


def fix(text: str, context: LintContext) -> tuple[str, list[LintFinding]]:
    """Append a localized opt-out instruction to marketing texts that have none."""
    if not context.marketing or opt_out_language(text) is not None:
        return text, []
    instruction = OPT_OUT_INSTRUCTIONS.get(context.language, OPT_OUT_INSTRUCTIONS["en"])
    if context.text_locked:
        return text, [
            LintFinding(
                CHECK,
                Severity.WARNING,
                "Marketing messages must say how to opt out, but this text comes from an approved "
                "WhatsApp template and cannot be changed here.",
                suggestion=f'Add "{instruction}" to the template.',
            )
        ]
    shown_language = language_name(context.language if context.language in OPT_OUT_INSTRUCTIONS else "en")
    return with_instruction(text, instruction), [
        LintFinding(
            CHECK,
            Severity.FIXED,
            f'Added the opt-out instruction "{instruction}" ({shown_language}): '
            "marketing messages must say how to stop them.",
        )
    ]
