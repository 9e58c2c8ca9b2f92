"""ad_prefix (L2/L3, Korea): advertising texts to Korean contacts start with "(광고)" and the sender name.

Korean law (정보통신망법 제50조) asks for "(광고)" at the very start, the
sender's name right after it, and a free opt-out at the end; the opt-out is
the opt_out_instruction fixer's job.
"""

from __future__ import annotations

import re

from mannerly.policy.lint._common import LintContext, fold
from mannerly.policy.types import LintFinding, Severity

CHECK = "ad_prefix"
AD_MARKER = "(광고)"
# The marker as businesses write it: (광고), [광고], <광고>, full-width brackets.
AD_MARKER_PATTERN = re.compile(r"[(\[<（【]\s*광\s*고\s*[)\]>）】]")
# Opening punctuation that may stand between the marker and the sender name.
_NAME_OPENERS = "[(<【「 "


def starts_with_ad_marker(text: str) -> bool:
    """True when the text already begins with a (광고) marker."""
    return AD_MARKER_PATTERN.match(text.lstrip()) is not None


def _starts_with_name(text: str, name: str) -> bool:
    """True when the text begins with the name, possibly inside brackets."""
    return fold(text.lstrip(_NAME_OPENERS)).startswith(fold(name))


def fix(text: str, context: LintContext) -> tuple[str, list[LintFinding]]:
    """Put "(광고)" and the sender name at the start of Korean advertising texts."""
    if not context.korean_advertising:
        return text, []
    brand = context.brand
    stripped = text.lstrip()
    leading_marker = AD_MARKER_PATTERN.match(stripped)
    if leading_marker:
        body = stripped[leading_marker.end():].lstrip()
    else:
        # A marker elsewhere in the text is moved to the front rather than doubled.
        body = AD_MARKER_PATTERN.sub("", stripped, count=1).strip()
    name_missing = brand is not None and not _starts_with_name(body, brand)
    findings: list[LintFinding] = []
    if leading_marker and not name_missing:
        new_text = text
    else:
        head = f"{AD_MARKER} {brand}" if name_missing else AD_MARKER
        new_text = f"{head} {body}" if body else head
        added = f'"{head}"'
        if context.text_locked:
            findings.append(
                LintFinding(
                    CHECK,
                    Severity.WARNING,
                    f"Korean advertising texts must start with {added}, but this text comes from an "
                    "approved WhatsApp template and cannot be changed here.",
                    suggestion=f"Add {added} at the start of the template.",
                )
            )
            new_text = text
        else:
            findings.append(
                LintFinding(
                    CHECK,
                    Severity.FIXED,
                    f"Added {added} at the start: Korean law requires advertising texts to begin with "
                    "(광고) followed by the sender's name.",
                )
            )
    if brand is None:
        findings.append(
            LintFinding(
                CHECK,
                Severity.WARNING,
                "Korean advertising texts must name the sender right after (광고), but no brand name is configured.",
                suggestion="Set the workspace brand name (for Korean, or a default) in the sending policy.",
            )
        )
    return new_text, findings
