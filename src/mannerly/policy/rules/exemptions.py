"""E3: which messages may ignore the sending window and holidays, and why."""

from mannerly.policy.context import RuleContext
from mannerly.policy.types import Source

# Sources that answer a customer rather than start a conversation.
REPLYING_SOURCES = frozenset({Source.AGENT, Source.BOT, Source.AUTO_REPLY, Source.KEYWORD_REPLY})


def window_exemption(ctx: RuleContext) -> str | None:
    """The reason this message is exempt from quiet hours and holidays, or None."""
    request, contact = ctx.request, ctx.contact
    replying = request.reply or request.source in REPLYING_SOURCES
    last_inbound = contact.last_inbound_at
    if replying and last_inbound is not None and ctx.now - last_inbound < ctx.policy.reply_exemption:
        hours = ctx.policy.reply_exemption.total_seconds() / 3600
        return (
            f"a reply within {hours:g} h of the customer's message at {last_inbound:%Y-%m-%d %H:%M} UTC"
        )
    if request.topic.urgent and not request.topic.marketing:
        return f"'{request.topic.name}' is an urgent transactional topic"
    return None
