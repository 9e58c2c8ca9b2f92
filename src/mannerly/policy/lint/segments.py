"""segments (L1): how many SMS segments the final text costs.

One segment: no finding. Two up to the policy's max_segments: a warning
(each segment is billed, and some handsets show the parts separately).
More than max_segments: an error. Messages explicitly sent over WhatsApp or
Messenger have no segments and are not measured.
"""

from __future__ import annotations

from mannerly.kit.sms import GSM_7, SINGLE_GSM_UNITS, SINGLE_UCS2_UNITS, sms_size
from mannerly.policy.lint._common import LintContext, sms_channel
from mannerly.policy.types import LintFinding, Severity

CHECK = "segments"


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn about multi-segment texts and refuse ones longer than the policy allows."""
    if not sms_channel(context):
        return []
    encoding, units, segments = sms_size(text)
    if segments <= 1:
        return []
    single_limit = SINGLE_GSM_UNITS if encoding == GSM_7 else SINGLE_UCS2_UNITS
    unit_name = "characters" if encoding == GSM_7 else "UCS-2 characters"
    suggestion = f"Shorten it to {single_limit} {unit_name} or fewer to fit one SMS ({encoding})."
    if segments > context.policy.max_segments:
        return [
            LintFinding(
                CHECK,
                Severity.ERROR,
                f"{segments} segments ({units} {unit_name}) is more than the limit of "
                f"{context.policy.max_segments} segments per message.",
                suggestion=suggestion,
            )
        ]
    return [
        LintFinding(
            CHECK,
            Severity.WARNING,
            f"{segments} segments: costs {segments}× a single SMS and may arrive split.",
            suggestion=suggestion,
        )
    ]
