"""opt_out: never write to a contact who opted out of everything or of this topic (E6)."""

from mannerly.policy.context import RuleContext, RuleOutcome
from mannerly.policy.types import ConsentStatus, Source

RULE = "opt_out"


def check(ctx: RuleContext) -> RuleOutcome:
    """Reject when the contact opted out globally or of the message's topic."""
    contact, topic = ctx.contact, ctx.request.topic
    opted_out = contact.global_opt_out or contact.consent_for(topic) is ConsentStatus.OPTED_OUT
    if not opted_out:
        return RuleOutcome.quiet()
    if ctx.request.source is Source.KEYWORD_REPLY:
        return RuleOutcome.exempt(RULE, "the one confirmation of the customer's own keyword is always sent")
    if contact.global_opt_out:
        return RuleOutcome.rejected(RULE, "the contact has opted out of all messages")
    return RuleOutcome.rejected(RULE, f"the contact has opted out of '{topic.name}'")
