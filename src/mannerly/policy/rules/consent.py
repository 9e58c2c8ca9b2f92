"""consent: marketing needs an opt-in on its topic (E6, P2)."""

from mannerly.policy.context import RuleContext, RuleOutcome
from mannerly.policy.types import ConsentStatus

RULE = "consent"


def check(ctx: RuleContext) -> RuleOutcome:
    """Reject marketing to a contact who has not opted in to its topic."""
    topic = ctx.request.topic
    if not topic.marketing:
        return RuleOutcome.quiet()
    if ctx.contact.consent_for(topic) is ConsentStatus.OPTED_IN:
        return RuleOutcome.quiet()
    return RuleOutcome.rejected(
        RULE, f"'{topic.name}' is a marketing topic and the contact has not opted in to it"
    )
