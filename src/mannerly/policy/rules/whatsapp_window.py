"""whatsapp_window: choose the channel, and keep WhatsApp and Messenger inside their 24-hour windows (E7, C8, C4).

WhatsApp allows free-form messages only within 24 hours of the customer's
last message; outside it only an approved template may be sent. Messenger
answers within 24 hours as a RESPONSE; outside, only with a message tag:
HUMAN_AGENT for an agent's reply within 7 days, or the tag the workspace
assigned to the (transactional) topic. When neither holds, the message goes by
SMS if the contact can receive SMS, else it is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mannerly.policy.context import QUIET, RuleOutcome
from mannerly.policy.types import ContactState, Policy, Reason, SendRequest, Source, Verdict

RULE = "whatsapp_window"
PREFERENCE = ("whatsapp", "sms", "messenger")
MESSENGER_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)

ChannelChoice = tuple[str | None, RuleOutcome, dict[str, str]]


def _window_open(contact: ContactState, policy: Policy, now: datetime) -> bool:
    """True when the customer wrote on WhatsApp within the window."""
    last = contact.whatsapp_last_inbound_at
    return last is not None and now - last < policy.whatsapp_window


def messenger_options(request: SendRequest, contact: ContactState, policy: Policy, now: datetime) -> dict[str, str] | None:
    """The Send API's messaging_type (and tag) this message may use, or None when Messenger is closed to it."""
    last = contact.messenger_last_inbound_at
    if last is not None and now - last < MESSENGER_WINDOW:
        return {"messaging_type": "RESPONSE"}
    if request.source is Source.AGENT and last is not None and now - last < HUMAN_AGENT_WINDOW:
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    tag = None if request.topic.marketing else policy.messenger_tags.get(request.topic.name)
    if tag:
        return {"messaging_type": "MESSAGE_TAG", "tag": tag}
    return None


def _closed_reason(kind: str, contact: ContactState) -> str:
    """Why a 24-hour channel cannot carry this message now."""
    if kind == "whatsapp":
        last = contact.whatsapp_last_inbound_at
        since = f"the customer last wrote on WhatsApp at {last:%Y-%m-%d %H:%M} UTC" if last else (
            "the customer has never written on WhatsApp")
        return f"{since}, so free-form WhatsApp text is not allowed and no approved template was given"
    last = contact.messenger_last_inbound_at
    since = f"the customer last wrote on Messenger at {last:%Y-%m-%d %H:%M} UTC" if last else (
        "the customer has never written on Messenger")
    return f"{since}, and the topic has no Messenger message tag, so Messenger cannot carry it"


def select_channel(request: SendRequest, contact: ContactState, policy: Policy, now: datetime) -> ChannelChoice:
    """The channel kind the message will use, the rule's outcome and the channel's options; None when no channel fits."""
    reachable = contact.reachable
    wanted = request.channel
    if wanted is None and "whatsapp" not in reachable and "sms" in reachable:
        return "sms", QUIET, {}  # the usual case, settled as the preference loop below would settle it
    options = messenger_options(request, contact, policy, now) if "messenger" in reachable else None

    def open_to(kind: str) -> bool:
        """True when the channel may carry this message now."""
        if kind == "whatsapp":
            return _window_open(contact, policy, now) or bool(request.whatsapp_template)
        if kind == "messenger":
            return options is not None
        return True

    def chosen(kind: str, outcome: RuleOutcome | None = None) -> ChannelChoice:
        """A choice with the options that go with the channel."""
        return kind, outcome or QUIET, (options or {}) if kind == "messenger" else {}

    if wanted is None:
        # C8: WhatsApp where the customer uses it and it is allowed now, SMS otherwise, Messenger last.
        for kind in PREFERENCE:
            if kind in reachable and open_to(kind):
                return chosen(kind)
        return None, RuleOutcome.rejected(RULE, "the contact has no channel this message can use now"), {}
    if wanted not in reachable:
        return None, RuleOutcome.rejected(RULE, f"the contact has no {wanted} address"), {}
    if wanted == "sms":
        return chosen(wanted)
    if open_to(wanted):
        if wanted == "whatsapp" and not _window_open(contact, policy, now):
            return chosen(wanted, RuleOutcome(reason=Reason(
                RULE, Verdict.PASS,
                f"outside WhatsApp's 24-hour window; sent as the approved template '{request.whatsapp_template}'",
            )))
        if wanted == "messenger" and options and options.get("tag"):
            return chosen(wanted, RuleOutcome(reason=Reason(
                RULE, Verdict.PASS, f"outside Messenger's 24-hour window; sent with the message tag {options['tag']}",
            )))
        return chosen(wanted)
    closed = _closed_reason(wanted, contact)
    if "sms" in reachable:
        return "sms", RuleOutcome(reason=Reason(RULE, Verdict.REROUTE, f"{closed}; sending by SMS instead"),
                                  channel="sms"), {}
    return None, RuleOutcome.rejected(RULE, f"{closed}, and the contact cannot receive SMS"), {}
