"""Content lint (SPEC L1–L9): fix what can be fixed, then judge the final text.

Pure: no I/O. Fixers run first, in this order, and build the final text from
request.text: ad_prefix (Korean "(광고)" + sender name), sender_intro
(business name), opt_out_instruction (marketing). Then every check runs on
the final text (one_word judges what the agent typed). Segments and encoding
are measured on the final text. Any finding with severity "error" makes the
engine reject the message.

Check ids are public API: see CHECK_IDS.
"""

from __future__ import annotations

from dataclasses import dataclass

from mannerly.kit.sms import sms_size
from mannerly.policy.lint import (
    ad_prefix,
    emoji,
    encoding,
    link,
    one_word,
    opt_out_instruction,
    pii_request,
    placeholder,
    segments,
    sender_intro,
    shouting,
    slang,
    spelling,
)
from mannerly.policy.lint._common import LintContext
from mannerly.policy.types import ContactState, LintFinding, Policy, SendRequest, Severity

FIXERS = (ad_prefix, sender_intro, opt_out_instruction)
CHECKS = (segments, encoding, emoji, slang, pii_request, one_word, placeholder, spelling, shouting, link)
CHECK_IDS: tuple[str, ...] = tuple(module.CHECK for module in FIXERS + CHECKS)


@dataclass(frozen=True)
class LintResult:
    """The text to send after automatic fixes, what the checks found, and its SMS size."""

    final_text: str
    findings: tuple[LintFinding, ...]
    segments: int
    encoding: str  # "GSM-7" | "UCS-2"

    @property
    def has_errors(self) -> bool:
        """True when a finding forbids sending the message."""
        return any(finding.severity is Severity.ERROR for finding in self.findings)


def lint_message(request: SendRequest, contact: ContactState, policy: Policy, *, language: str) -> LintResult:
    """Apply the automatic fixes to a message and run every content check on the result."""
    return LintResult(*lint_fields(request, contact, policy, language))


def lint_fields(
    request: SendRequest, contact: ContactState, policy: Policy, language: str
) -> tuple[str, tuple[LintFinding, ...], int, str]:
    """lint_message's result as a plain tuple (final text, findings, segments, encoding), for the engine."""
    context = LintContext(request, contact, policy, language)
    text = request.text
    findings: list[LintFinding] = []
    for fixer in FIXERS:
        text, fixed = fixer.fix(text, context)
        if fixed:
            findings += fixed
    for check in CHECKS:
        found = check.check(text, context)
        if found:
            findings += found
    encoding, _units, segment_count = sms_size(text)
    return text, tuple(findings), segment_count, encoding


__all__ = ["CHECK_IDS", "LintResult", "lint_fields", "lint_message"]
