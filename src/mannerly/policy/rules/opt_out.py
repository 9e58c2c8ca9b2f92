"""opt_out: never write to a contact who opted out of everything or of this topic (E6)."""

from mannerly.policy.context import QUIET, RuleContext, RuleOutcome
from mannerly.policy.types import ConsentStatus, Source

RULE = "opt_out"

# Enum members looked up once: a lookup on an Enum class is slow in Python 3.11.
_OPTED_OUT, _KEYWORD_REPLY = ConsentStatus.OPTED_OUT, Source.KEYWORD_REPLY


def check(ctx: RuleContext) -> RuleOutcome:
    """Reject when the contact opted out globally or of the message's topic."""
    contact, topic = ctx.contact, ctx.request.topic
    opted_out = contact.global_opt_out or contact.consent_for(topic) is _OPTED_OUT
    if not opted_out:
        return QUIET
    if ctx.request.source is _KEYWORD_REPLY:
        return RuleOutcome.exempt(RULE, "the one confirmation of the customer's own keyword is always sent")
    if contact.global_opt_out:
        return RuleOutcome.rejected(RULE, "the contact has opted out of all messages")
    return RuleOutcome.rejected(RULE, f"the contact has opted out of '{topic.name}'")
