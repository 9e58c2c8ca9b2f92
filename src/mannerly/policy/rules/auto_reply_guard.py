"""auto_reply_guard: at most one automatic reply per conversation per period (E8)."""

from mannerly.policy.context import QUIET, RuleContext, RuleOutcome
from mannerly.policy.types import Source

RULE = "auto_reply_guard"

# Enum members looked up once: a lookup on an Enum class is slow in Python 3.11.
_AUTO_REPLY = Source.AUTO_REPLY


def check(ctx: RuleContext) -> RuleOutcome:
    """Reject an automatic reply when one was already sent within the period."""
    if ctx.request.source is not _AUTO_REPLY:
        return QUIET
    last = ctx.contact.last_auto_reply_at
    period = ctx.policy.auto_reply_period
    if last is None or ctx.now - last >= period:
        return QUIET
    hours = period.total_seconds() / 3600
    return RuleOutcome.rejected(
        RULE, f"an automatic reply already went to this conversation at {last:%Y-%m-%d %H:%M} UTC; "
        f"at most one per {hours:g} h"
    )
