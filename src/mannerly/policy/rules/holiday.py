"""holiday: no non-urgent sends on the recipient country's national public holidays (E2)."""

from mannerly.policy.calendar import holiday_name, local_view
from mannerly.policy.context import QUIET, RuleContext, RuleOutcome
from mannerly.policy.rules.exemptions import window_exemption
from mannerly.policy.types import Reason, Verdict

RULE = "holiday"


def check(ctx: RuleContext) -> RuleOutcome:
    """Skip the recipient country's public holidays unless the message is exempt."""
    if not ctx.policy.skip_holidays or not ctx.contact.country:
        return QUIET
    exemption = window_exemption(ctx)
    holidays_now = []
    for name in ctx.zones:
        local_day = local_view(ctx.now, name).day
        title = holiday_name(ctx.contact.country, local_day)
        if title:
            holidays_now.append(f"{local_day:%Y-%m-%d} is {title} in {ctx.contact.country} ({name})")
    if exemption:
        if holidays_now:
            return RuleOutcome.exempt(RULE, f"sent on a public holiday because it is {exemption}")
        return QUIET
    if not holidays_now:
        return _SKIP_HOLIDAYS
    reason = Reason(RULE, Verdict.DEFER, "; ".join(holidays_now) + ", a public holiday")
    return RuleOutcome(reason=reason, skip_holidays=True)


# The usual outcome (no holiday today, but skip the coming ones); immutable, so shared.
_SKIP_HOLIDAYS = RuleOutcome(skip_holidays=True)
