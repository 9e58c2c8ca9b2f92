"""duplicate: the same text to the same contact twice within 24 hours is refused (E5)."""

from mannerly.policy.context import QUIET, RuleContext, RuleOutcome

RULE = "duplicate"


def _normalized(text: str) -> str:
    """Text with case and runs of white space folded, so trivial variants still match."""
    return " ".join(text.split()).casefold()


def check(ctx: RuleContext) -> RuleOutcome:
    """Reject when the final text already went to this contact within the duplicate window."""
    window_start = ctx.now - ctx.policy.duplicate_window
    text = None  # normalized only when some earlier message is inside the window
    for sent in ctx.contact.recent_outbound:
        if not window_start < sent.at <= ctx.now:
            continue
        if text is None:
            text = _normalized(ctx.final_text)
        if _normalized(sent.final_text) == text:
            hours = ctx.policy.duplicate_window.total_seconds() / 3600
            return RuleOutcome.rejected(
                RULE, f"the same text went to this contact at {sent.at:%Y-%m-%d %H:%M} UTC "
                f"(within {hours:g} h)"
            )
    return QUIET
