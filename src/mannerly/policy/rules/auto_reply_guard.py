"""auto_reply_guard: at most one automatic reply per conversation per period (E8)."""

from mannerly.policy.context import RuleContext, RuleOutcome
from mannerly.policy.types import Source

RULE = "auto_reply_guard"


def check(ctx: RuleContext) -> RuleOutcome:
    """Reject an automatic reply when one was already sent within the period."""
    if ctx.request.source is not Source.AUTO_REPLY:
        return RuleOutcome.quiet()
    last = ctx.contact.last_auto_reply_at
    period = ctx.policy.auto_reply_period
    if last is None or ctx.now - last >= period:
        return RuleOutcome.quiet()
    hours = period.total_seconds() / 3600
    return RuleOutcome.rejected(
        RULE, f"an automatic reply already went to this conversation at {last:%Y-%m-%d %H:%M} UTC; "
        f"at most one per {hours:g} h"
    )
