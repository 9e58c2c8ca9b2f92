"""consent: marketing needs an opt-in on its topic (E6, P2)."""

from mannerly.policy.context import QUIET, RuleContext, RuleOutcome
from mannerly.policy.types import ConsentStatus

RULE = "consent"

# Enum members looked up once: a lookup on an Enum class is slow in Python 3.11.
_OPTED_IN = ConsentStatus.OPTED_IN


def check(ctx: RuleContext) -> RuleOutcome:
    """Reject marketing to a contact who has not opted in to its topic."""
    topic = ctx.request.topic
    if not topic.marketing:
        return QUIET
    if ctx.contact.consent_for(topic) is _OPTED_IN:
        return QUIET
    return RuleOutcome.rejected(
        RULE, f"'{topic.name}' is a marketing topic and the contact has not opted in to it"
    )
