"""sender_intro (L2): the business introduces itself on first contact, marketing and campaigns.

When the business name is missing it is put in front of the text: "Acme: ..."
in most languages, "[Acme] ..." in Korean (the local custom). After a "(광고)"
marker the name goes right behind the marker, so nothing is doubled.
"""

from __future__ import annotations

from mannerly.policy.lint._common import LintContext, contains_name
from mannerly.policy.lint.ad_prefix import AD_MARKER_PATTERN
from mannerly.policy.types import LintFinding, Severity

CHECK = "sender_intro"


def _why_required(context: LintContext) -> str | None:
    """Why this message must name the business, or None when it need not."""
    if not context.policy.sender_intro:
        return None
    if context.contact.first_contact:
        return "this is the first message to this contact"
    if context.marketing:
        return "marketing messages must say who sends them"
    if context.campaign:
        return "campaign messages must say who sends them"
    return None


def with_brand_prefix(text: str, brand: str, language: str) -> str:
    """The text with the brand name put in front, after a (광고) marker if there is one."""
    stripped = text.lstrip()
    marker = AD_MARKER_PATTERN.match(stripped)
    if marker:
        rest = stripped[marker.end():].lstrip()
        return f"{marker.group(0)} {brand} {rest}".rstrip()
    if language == "ko":
        return f"[{brand}] {stripped}".rstrip()
    return f"{brand}: {stripped}".rstrip()


def fix(text: str, context: LintContext) -> tuple[str, list[LintFinding]]:
    """Prefix the business name when the message must introduce the sender and does not."""
    reason = _why_required(context)
    if reason is None:
        return text, []
    brand = context.brand
    if brand is None:
        return text, [
            LintFinding(
                CHECK,
                Severity.WARNING,
                f"The message should say who is writing ({reason}), but no brand name is configured.",
                suggestion="Set the workspace brand name in the sending policy so it can be added automatically.",
            )
        ]
    if contains_name(text, brand):
        return text, []
    if context.text_locked:
        return text, [
            LintFinding(
                CHECK,
                Severity.WARNING,
                f'The business name "{brand}" is missing ({reason}), but this text comes from an approved '
                "WhatsApp template and cannot be changed here.",
                suggestion=f'Mention "{brand}" in the template.',
            )
        ]
    new_text = with_brand_prefix(text, brand, context.language)
    return new_text, [
        LintFinding(CHECK, Severity.FIXED, f'Added the business name "{brand}" at the start because {reason}.')
    ]
