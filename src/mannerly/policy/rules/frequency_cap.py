"""frequency_cap: at most N marketing messages per rolling period, and a gap between automated ones (E5)."""

from datetime import datetime

from mannerly.policy.context import QUIET, RuleContext, RuleOutcome
from mannerly.policy.types import Reason, TopicKind, Verdict

RULE = "frequency_cap"

# Enum members looked up once: a lookup on an Enum class is slow in Python 3.11.
_MARKETING, _DEFER = TopicKind.MARKETING, Verdict.DEFER


def check(ctx: RuleContext) -> RuleOutcome:
    """Defer marketing until the rolling cap and the automated minimum gap allow it."""
    request, policy = ctx.request, ctx.policy
    if not request.topic.marketing:
        return QUIET
    now = ctx.now
    # Only messages already due count: ones scheduled later are decided again when they fall due.
    period_start = now - policy.marketing_cap_period
    wants_gap = request.source.automated and policy.automated_min_gap
    in_period: list[datetime] = []
    # The latest automated marketing message already sent (the last of equal ones, as sorted()[-1] was).
    last_automated: datetime | None = None
    for sent in ctx.contact.recent_outbound:
        if sent.topic_kind is not _MARKETING:
            continue
        at = sent.at
        if period_start < at <= now:
            in_period.append(at)
        if wants_gap and at <= now and sent.source.automated and (last_automated is None or at >= last_automated):
            last_automated = at
    in_period.sort()
    if policy.marketing_cap <= 0:
        return RuleOutcome.rejected(RULE, "the policy allows no marketing messages")
    details: list[str] = []
    not_before = now
    if len(in_period) >= policy.marketing_cap:
        # The cap frees up once enough of the oldest messages have left the rolling period.
        freed_at = in_period[len(in_period) - policy.marketing_cap] + policy.marketing_cap_period
        not_before = max(not_before, freed_at)
        days = policy.marketing_cap_period.total_seconds() / 86400
        details.append(
            f"{len(in_period)} marketing messages in the last {days:g} days (cap {policy.marketing_cap}); "
            f"the next is allowed from {freed_at:%Y-%m-%d %H:%M} UTC"
        )
    if last_automated is not None:
        gap_end = last_automated + policy.automated_min_gap
        if gap_end > now:
            not_before = max(not_before, gap_end)
            minutes = policy.automated_min_gap.total_seconds() / 60
            details.append(f"automated marketing messages keep {minutes:g} min apart")
    if not details:
        return QUIET
    return RuleOutcome(reason=Reason(RULE, _DEFER, "; ".join(details)), not_before=not_before)
