"""quiet_hours: send only inside the sending window on working days, in the recipient's local time (E1)."""

from datetime import time
from functools import lru_cache

from mannerly.policy.calendar import DailyWindow, country_workdays, describe_days, local_view
from mannerly.policy.context import RuleContext, RuleOutcome
from mannerly.policy.rules.exemptions import window_exemption
from mannerly.policy.types import Reason, Verdict

RULE = "quiet_hours"


def _sending_rule(start: time, end: time, workdays: frozenset[int]) -> tuple[DailyWindow, str]:
    """The window and wording of one policy's sending rule."""
    # Plain (naive, fold-0) times only: equal ones are then interchangeable, while cache keys
    # ignore tzinfo offsets and fold.
    if start.tzinfo is None and not start.fold and end.tzinfo is None and not end.fold:
        return _cached_sending_rule(start, end, workdays)
    return _build_sending_rule(start, end, workdays)


@lru_cache(maxsize=256)
def _cached_sending_rule(start: time, end: time, workdays: frozenset[int]) -> tuple[DailyWindow, str]:
    """_build_sending_rule, built once per policy."""
    return _build_sending_rule(start, end, workdays)


def _build_sending_rule(start: time, end: time, workdays: frozenset[int]) -> tuple[DailyWindow, str]:
    """The window and wording of a sending rule, built."""
    window = DailyWindow(start, end)
    return window, f"sending window is {window.label()} {describe_days(workdays)}"


def check(ctx: RuleContext) -> RuleOutcome:
    """Impose the workspace's daily window and working days unless the message is exempt."""
    exemption = window_exemption(ctx)
    if exemption:
        return RuleOutcome.exempt(RULE, f"exempt from the sending window: {exemption}")
    policy = ctx.policy
    workdays = policy.workdays if policy.workdays is not None else country_workdays(ctx.contact.country)
    window, rule_text = _sending_rule(policy.window_start, policy.window_end, workdays)
    start, end = window.start, window.end
    described: list[str] = []
    outside: list[str] = []
    for name in ctx.zones:
        view = local_view(ctx.now, name)
        described.append(view.described)
        # What Schedule(window, workdays).allows says, without building the schedule: a working
        # day and a time of day inside the window (this rule does not skip holidays).
        if not (view.weekday in workdays and start <= view.clock < end):
            outside.append(view.described)
    local = "; ".join(outside or described)
    reason = Reason(RULE, _DEFER if outside else _PASS, f"recipient's local time is {local}; {rule_text}")
    return RuleOutcome(reason=reason, window=window, workdays=workdays)


# Enum members looked up once: a lookup on an Enum class is slow in Python 3.11.
_PASS, _DEFER = Verdict.PASS, Verdict.DEFER
