"""decide(): the one pure function every outbound message passes (SPEC E1–E8, L1–L9).

Order of work: choose the channel, lint and fix the text, run every rule on
the final text, then find the earliest moment all time rules allow. Rules
never short-circuit, so a rejected message still lists everything that fired
(campaign previews count exclusions per rule).
"""

from __future__ import annotations

from datetime import UTC, datetime

from mannerly.policy.calendar import FULL_DAY, DailyWindow, Schedule, next_allowed, zone
from mannerly.policy.context import QUIET, RuleContext, RuleOutcome
from mannerly.policy.lint import LintResult, lint_message
from mannerly.policy.rules import (
    auto_reply_guard,
    cold_contact,
    consent,
    duplicate,
    frequency_cap,
    holiday,
    legal_hours,
    opt_out,
    quiet_hours,
    whatsapp_window,
)
from mannerly.policy.types import (
    Action,
    ContactState,
    Decision,
    Policy,
    Reason,
    SendRequest,
    Severity,
    Verdict,
)

# Run in this order; the order is also the order of the reasons in a Decision.
RULES = (opt_out, consent, cold_contact, auto_reply_guard, duplicate, frequency_cap, quiet_hours, holiday, legal_hours)

# Rule ids that are not one of the rule modules above.
LINT_RULE = "lint"
SCHEDULE_RULE = "schedule"

# Enum members looked up once: a lookup on an Enum class is slow in Python 3.11.
_ERROR = Severity.ERROR
_SEND, _DEFER, _REJECT = Action.SEND, Action.DEFER, Action.REJECT
_UNKNOWN_ZONE_REASON = Reason(SCHEDULE_RULE, Verdict.PASS, "the recipient's time zone is unknown; UTC assumed")


def decide(request: SendRequest, contact: ContactState, policy: Policy, now: datetime) -> Decision:
    """Decide whether a message goes now, later (and when), or not at all, and why."""
    if now.tzinfo is None:
        raise ValueError("decide() needs an aware `now`")
    now = now.astimezone(UTC)
    language = request.language or contact.language or "en"
    channel, channel_outcome, channel_options = whatsapp_window.select_channel(request, contact, policy, now)
    linted = lint_message(request, contact, policy, language=language)
    zones = contact.time_zones or ("UTC",)
    ctx = RuleContext(
        request=request,
        contact=contact,
        policy=policy,
        now=now,
        zones=zones,
        zones_known=bool(contact.time_zones),
        language=language,
        final_text=linted.final_text,
        channel=channel or (request.channel or "sms"),
    )
    outcomes = [channel_outcome]
    outcomes += [rule.check(ctx) for rule in RULES]
    reasons = [outcome.reason for outcome in outcomes if outcome.reason is not None]
    if not ctx.zones_known:
        reasons.append(_UNKNOWN_ZONE_REASON)
    lint_errors = [finding.check for finding in linted.findings if finding.severity is _ERROR]
    if lint_errors:
        reasons.append(Reason(LINT_RULE, Verdict.REJECT, "the content has errors: " + ", ".join(lint_errors)))
    if lint_errors or any([outcome.reject for outcome in outcomes]):
        return _decision(_REJECT, None, linted, channel, reasons, channel_options, zones)
    send_at = earliest_send_time(outcomes, ctx)
    if send_at is None:
        days = policy.horizon.days
        reasons.append(Reason(SCHEDULE_RULE, Verdict.REJECT, f"no moment within {days} days satisfies every rule"))
        return _decision(_REJECT, None, linted, channel, reasons, channel_options, zones)
    return _decision(_SEND if send_at == now else _DEFER, send_at, linted, channel, reasons, channel_options, zones)


def _decision(
    action: Action,
    send_at: datetime | None,
    linted: LintResult,
    channel: str | None,
    reasons: list[Reason],
    channel_options: dict[str, str],
    zones: tuple[str, ...],
) -> Decision:
    """Assemble the Decision with everything decide() computed."""
    return Decision(
        action=action,
        final_text=linted.final_text,
        channel=channel,
        reasons=tuple(reasons),
        lint=linted.findings,
        segments=linted.segments,
        encoding=linted.encoding,
        send_at=send_at,
        local_send_at=send_at.astimezone(zone(zones[0])) if send_at else None,
        channel_options=channel_options,
    )


def earliest_send_time(outcomes: list[RuleOutcome], ctx: RuleContext) -> datetime | None:
    """The earliest UTC moment at or after now that every rule's time constraints allow."""
    window: DailyWindow | None = None
    workdays: frozenset[int] | None = None
    skip_holidays = False
    not_before = ctx.now
    for outcome in outcomes:
        if outcome is QUIET:
            continue  # most rules have nothing to say; the shared quiet outcome sets nothing
        if outcome.window is not None:
            window = outcome.window if window is None else window.intersect(outcome.window)
        if outcome.workdays is not None:
            workdays = outcome.workdays if workdays is None else workdays & outcome.workdays
        skip_holidays = skip_holidays or outcome.skip_holidays
        if outcome.not_before is not None and outcome.not_before > not_before:
            not_before = outcome.not_before
    schedule = Schedule(
        window=window or FULL_DAY,  # Schedule's default window
        workdays=workdays,
        skip_holidays=skip_holidays,
        country=ctx.contact.country,
    )
    return next_allowed(not_before, schedule, ctx.zones, ctx.now + ctx.policy.horizon)
