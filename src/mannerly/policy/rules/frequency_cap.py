"""frequency_cap: at most N marketing messages per rolling period, and a gap between automated ones (E5)."""

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
    marketing_times = sorted(
        sent.at for sent in ctx.contact.recent_outbound if sent.topic_kind is _MARKETING
    )
    details: list[str] = []
    not_before = ctx.now
    # Only messages already due count: ones scheduled later are decided again when they fall due.
    period_start = ctx.now - policy.marketing_cap_period
    in_period = [at for at in marketing_times if period_start < at <= ctx.now]
    if policy.marketing_cap <= 0:
        return RuleOutcome.rejected(RULE, "the policy allows no marketing messages")
    if len(in_period) >= policy.marketing_cap:
        # The cap frees up once enough of the oldest messages have left the rolling period.
        freed_at = in_period[len(in_period) - policy.marketing_cap] + policy.marketing_cap_period
        not_before = max(not_before, freed_at)
        days = policy.marketing_cap_period.total_seconds() / 86400
        details.append(
            f"{len(in_period)} marketing messages in the last {days:g} days (cap {policy.marketing_cap}); "
            f"the next is allowed from {freed_at:%Y-%m-%d %H:%M} UTC"
        )
    if request.source.automated and policy.automated_min_gap:
        last_automated = max(
            (
                sent.at for sent in ctx.contact.recent_outbound
                if sent.source.automated and sent.topic_kind is _MARKETING and sent.at <= ctx.now
            ),
            default=None,
        )
        gap_end = last_automated + policy.automated_min_gap if last_automated is not None else None
        if gap_end is not None and gap_end > ctx.now:
            not_before = max(not_before, gap_end)
            minutes = policy.automated_min_gap.total_seconds() / 60
            details.append(f"automated marketing messages keep {minutes:g} min apart")
    if not details:
        return QUIET
    return RuleOutcome(reason=Reason(RULE, _DEFER, "; ".join(details)), not_before=not_before)
