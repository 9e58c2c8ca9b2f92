"""decide(): the one pure function every outbound message passes (SPEC E1–E8, L1–L9).

Order of work: choose the channel, lint and fix the text, run every rule on
the final text, then find the earliest moment all time rules allow. Rules
never short-circuit, so a rejected message still lists everything that fired
(campaign previews count exclusions per rule).
"""

from __future__ import annotations

from datetime import UTC, datetime

from mannerly.policy.calendar import FULL_DAY, DailyWindow, Schedule, local_moment, next_allowed
from mannerly.policy.context import QUIET, RuleContext, RuleOutcome
from mannerly.policy.lint import lint_fields
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
    final_text, findings, segments, encoding = lint_fields(request, contact, policy, language)
    zones = contact.time_zones or ("UTC",)
    # Positional arguments, in field order: keyword calls of the frozen dataclasses cost more.
    ctx = RuleContext(
        request,
        contact,
        policy,
        now,
        zones,
        bool(contact.time_zones),  # zones_known
        language,
        final_text,
        channel or (request.channel or "sms"),
    )
    outcomes = [channel_outcome]
    for rule in RULES:
        outcomes.append(rule.check(ctx))
    # Plain loops rather than comprehensions: each comprehension is a function call of its own.
    reasons = []
    rejected = False
    for outcome in outcomes:
        if outcome is not QUIET:  # the shared quiet outcome has no reason and rejects nothing
            if outcome.reason is not None:
                reasons.append(outcome.reason)
            rejected = rejected or outcome.reject
    if not ctx.zones_known:
        reasons.append(_UNKNOWN_ZONE_REASON)
    lint_errors = [finding.check for finding in findings if finding.severity is _ERROR] if findings else None
    if lint_errors:
        reasons.append(Reason(LINT_RULE, Verdict.REJECT, "the content has errors: " + ", ".join(lint_errors)))
    send_at = None
    if lint_errors or rejected:
        action = _REJECT
    else:
        send_at = earliest_send_time(outcomes, ctx)
        if send_at is None:
            days = policy.horizon.days
            reasons.append(Reason(SCHEDULE_RULE, Verdict.REJECT, f"no moment within {days} days satisfies every rule"))
            action = _REJECT
        else:
            action = _SEND if send_at == now else _DEFER
    return Decision(
        action,
        final_text,
        channel,
        tuple(reasons),
        findings,  # lint
        segments,
        encoding,
        send_at,
        local_moment(send_at, zones[0]) if send_at else None,  # local_send_at (cached per UTC moment and zone)
        channel_options,
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
    # Positional, in field order (window, workdays, skip_holidays, country); FULL_DAY is Schedule's default window.
    schedule = Schedule(window or FULL_DAY, workdays, skip_holidays, ctx.contact.country)
    return next_allowed(not_before, schedule, ctx.zones, ctx.now + ctx.policy.horizon)
