"""whatsapp_window: choose the channel, and keep WhatsApp free-form text inside the 24-hour window (E7, C8).

WhatsApp allows free-form messages only within 24 hours of the customer's
last message; outside it only an approved template may be sent. When neither
holds, the message goes by SMS if the contact can receive SMS, else it is
refused.
"""

from datetime import datetime

from mannerly.policy.context import RuleOutcome
from mannerly.policy.types import ContactState, Policy, Reason, SendRequest, Verdict

RULE = "whatsapp_window"
PREFERENCE = ("whatsapp", "sms", "messenger")


def _window_open(contact: ContactState, policy: Policy, now: datetime) -> bool:
    """True when the customer wrote on WhatsApp within the window."""
    last = contact.whatsapp_last_inbound_at
    return last is not None and now - last < policy.whatsapp_window


def select_channel(request: SendRequest, contact: ContactState, policy: Policy, now: datetime) -> tuple[str | None, RuleOutcome]:
    """The channel kind the message will use and the rule's outcome; None when no channel fits."""
    reachable = contact.reachable
    wanted = request.channel
    if wanted is None:
        # C8: WhatsApp where the customer uses it and it is allowed now, SMS otherwise.
        for kind in PREFERENCE:
            if kind not in reachable:
                continue
            if kind == "whatsapp" and not (_window_open(contact, policy, now) or request.whatsapp_template):
                continue
            return kind, RuleOutcome.quiet()
        return None, RuleOutcome.rejected(RULE, "the contact has no channel this message can use")
    if wanted not in reachable:
        return None, RuleOutcome.rejected(RULE, f"the contact has no {wanted} address")
    if wanted != "whatsapp":
        return wanted, RuleOutcome.quiet()
    if _window_open(contact, policy, now):
        return wanted, RuleOutcome.quiet()
    if request.whatsapp_template:
        return wanted, RuleOutcome(reason=Reason(
            RULE, Verdict.PASS,
            f"outside WhatsApp's 24-hour window; sent as the approved template '{request.whatsapp_template}'",
        ))
    last = contact.whatsapp_last_inbound_at
    since = f"the customer last wrote on WhatsApp at {last:%Y-%m-%d %H:%M} UTC" if last else (
        "the customer has never written on WhatsApp"
    )
    if "sms" in reachable:
        return "sms", RuleOutcome(
            reason=Reason(RULE, Verdict.REROUTE, f"{since}, so free-form WhatsApp text is not allowed "
                          "and no approved template was given; sending by SMS instead"),
            channel="sms",
        )
    return None, RuleOutcome.rejected(
        RULE, f"{since}; free-form WhatsApp text needs the 24-hour window or an approved template, "
        "and the contact cannot receive SMS"
    )
