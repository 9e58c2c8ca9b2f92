"""cold_contact: marketing only to contacts with a prior relationship (P6)."""

from mannerly.policy.context import QUIET, RuleContext, RuleOutcome

RULE = "cold_contact"


def check(ctx: RuleContext) -> RuleOutcome:
    """Reject marketing to a contact who never wrote, bought or consented."""
    if not ctx.request.topic.marketing:
        return QUIET
    contact = ctx.contact
    if contact.prior_relationship or contact.last_inbound_at is not None:
        return QUIET
    return RuleOutcome.rejected(
        RULE, "cold contact: no inbound message, purchase or recorded consent yet, so no marketing"
    )
