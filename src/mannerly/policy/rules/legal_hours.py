"""legal_hours: time-of-day limits for marketing set by law, which no policy can loosen (E4).

- United States (TCPA): marketing texts only 08:00–21:00 recipient local time;
  Florida (FTSA) only 08:00–20:00.
- South Korea (Act on Promotion of Information and Communications Network
  Utilization, art. 50): advertising between 21:00 and 08:00 needs a separate
  night-time consent.
"""

from datetime import time

from mannerly.policy.calendar import DailyWindow, local_view
from mannerly.policy.context import QUIET, RuleContext, RuleOutcome
from mannerly.policy.types import Reason, Verdict

RULE = "legal_hours"

US_MARKETING = DailyWindow(time(8, 0), time(21, 0))
FLORIDA_MARKETING = DailyWindow(time(8, 0), time(20, 0))
KOREA_DAYTIME_ADS = DailyWindow(time(8, 0), time(21, 0))


def legal_window(ctx: RuleContext) -> tuple[DailyWindow, str] | None:
    """The legal daily window for this message and the law's name, or None when no law limits it."""
    if not ctx.request.topic.marketing:
        return None
    country = (ctx.contact.country or "").upper()
    if country == "US":
        if (ctx.contact.subdivision or "").upper() == "FL":
            return FLORIDA_MARKETING, "Florida law (FTSA) allows marketing texts only 08:00–20:00 local time"
        return US_MARKETING, "US law (TCPA) allows marketing texts only 08:00–21:00 local time"
    if country == "KR" and not ctx.contact.night_marketing_consent:
        return KOREA_DAYTIME_ADS, (
            "Korean law requires a separate night-time consent for ads between 21:00 and 08:00"
        )
    return None


def check(ctx: RuleContext) -> RuleOutcome:
    """Impose the legal marketing hours of the recipient's country."""
    found = legal_window(ctx)
    if found is None:
        return QUIET
    window, law = found
    outside = []
    for name in ctx.zones:
        view = local_view(ctx.now, name)
        if not window.contains(view.clock):
            outside.append(view.described)
    reason = None
    if outside:
        local = "; ".join(outside)
        reason = Reason(RULE, Verdict.DEFER, f"recipient's local time is {local}; {law}")
    return RuleOutcome(reason=reason, window=window)
