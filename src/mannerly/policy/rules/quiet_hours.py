"""quiet_hours: send only inside the sending window on working days, in the recipient's local time (E1)."""

from mannerly.policy.calendar import (
    DailyWindow,
    Schedule,
    country_workdays,
    describe_days,
    describe_local,
)
from mannerly.policy.context import RuleContext, RuleOutcome
from mannerly.policy.rules.exemptions import window_exemption
from mannerly.policy.types import Reason, Verdict

RULE = "quiet_hours"


def check(ctx: RuleContext) -> RuleOutcome:
    """Impose the workspace's daily window and working days unless the message is exempt."""
    exemption = window_exemption(ctx)
    if exemption:
        return RuleOutcome.exempt(RULE, f"exempt from the sending window: {exemption}")
    policy = ctx.policy
    window = DailyWindow(policy.window_start, policy.window_end)
    workdays = policy.workdays if policy.workdays is not None else country_workdays(ctx.contact.country)
    schedule = Schedule(window=window, workdays=workdays)
    outside = [name for name in ctx.zones if not schedule.allows(ctx.now, name)]
    rule_text = f"sending window is {window.label()} {describe_days(workdays)}"
    if not outside:
        local = "; ".join(describe_local(ctx.now, name) for name in ctx.zones)
        reason = Reason(RULE, Verdict.PASS, f"recipient's local time is {local}; {rule_text}")
    else:
        local = "; ".join(describe_local(ctx.now, name) for name in outside)
        reason = Reason(RULE, Verdict.DEFER, f"recipient's local time is {local}; {rule_text}")
    return RuleOutcome(reason=reason, window=window, workdays=workdays)
