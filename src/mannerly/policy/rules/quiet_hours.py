"""quiet_hours: send only inside the sending window on working days, in the recipient's local time (E1)."""

from datetime import time
from functools import lru_cache

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


def _sending_rule(start: time, end: time, workdays: frozenset[int]) -> tuple[DailyWindow, Schedule, str]:
    """The window, schedule and wording of one policy's sending rule."""
    if _plain(start) and _plain(end):
        return _cached_sending_rule(start, end, workdays)
    return _build_sending_rule(start, end, workdays)


def _plain(moment: time) -> bool:
    """True for a naive fold-0 time: equal ones are then interchangeable (cache keys ignore tzinfo offsets and fold)."""
    return moment.tzinfo is None and not moment.fold


@lru_cache(maxsize=256)
def _cached_sending_rule(start: time, end: time, workdays: frozenset[int]) -> tuple[DailyWindow, Schedule, str]:
    """_build_sending_rule, built once per policy."""
    return _build_sending_rule(start, end, workdays)


def _build_sending_rule(start: time, end: time, workdays: frozenset[int]) -> tuple[DailyWindow, Schedule, str]:
    """The window, schedule and wording of a sending rule, built."""
    window = DailyWindow(start, end)
    return window, Schedule(window=window, workdays=workdays), f"sending window is {window.label()} {describe_days(workdays)}"


def check(ctx: RuleContext) -> RuleOutcome:
    """Impose the workspace's daily window and working days unless the message is exempt."""
    exemption = window_exemption(ctx)
    if exemption:
        return RuleOutcome.exempt(RULE, f"exempt from the sending window: {exemption}")
    policy = ctx.policy
    workdays = policy.workdays if policy.workdays is not None else country_workdays(ctx.contact.country)
    window, schedule, rule_text = _sending_rule(policy.window_start, policy.window_end, workdays)
    outside = [name for name in ctx.zones if not schedule.allows(ctx.now, name)]
    if not outside:
        local = "; ".join(describe_local(ctx.now, name) for name in ctx.zones)
        reason = Reason(RULE, Verdict.PASS, f"recipient's local time is {local}; {rule_text}")
    else:
        local = "; ".join(describe_local(ctx.now, name) for name in outside)
        reason = Reason(RULE, Verdict.DEFER, f"recipient's local time is {local}; {rule_text}")
    return RuleOutcome(reason=reason, window=window, workdays=workdays)
