"""What every rule sees and what every rule returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mannerly.policy.calendar import DailyWindow
from mannerly.policy.types import ContactState, Policy, Reason, SendRequest, Verdict, slot_setters


@dataclass(frozen=True, slots=True, init=False)
class RuleContext:
    """The inputs of one decision, resolved once for all rules."""

    request: SendRequest
    contact: ContactState
    policy: Policy
    now: datetime  # aware, UTC
    zones: tuple[str, ...]  # the recipient's time zones; ("UTC",) when unknown
    zones_known: bool
    language: str
    final_text: str
    channel: str  # the channel kind the message will use

    def __init__(
        self,
        request: SendRequest,
        contact: ContactState,
        policy: Policy,
        now: datetime,
        zones: tuple[str, ...],
        zones_known: bool,
        language: str,
        final_text: str,
        channel: str,
    ) -> None:
        """Set the fields (see types.slot_setters)."""
        _set_request(self, request)
        _set_contact(self, contact)
        _set_policy(self, policy)
        _set_now(self, now)
        _set_zones(self, zones)
        _set_zones_known(self, zones_known)
        _set_language(self, language)
        _set_final_text(self, final_text)
        _set_channel(self, channel)


(
    _set_request,
    _set_contact,
    _set_policy,
    _set_now,
    _set_zones,
    _set_zones_known,
    _set_language,
    _set_final_text,
    _set_channel,
) = slot_setters(RuleContext)


@dataclass(frozen=True, slots=True, init=False)
class RuleOutcome:
    """One rule's conclusion: a reason when it fired, and what it requires of the send time."""

    reason: Reason | None = None
    reject: bool = False
    not_before: datetime | None = None  # the earliest UTC moment this rule allows
    window: DailyWindow | None = None  # a daily local window this rule imposes
    workdays: frozenset[int] | None = None  # weekdays this rule allows
    skip_holidays: bool = False
    channel: str | None = None  # a channel this rule switched the message to

    def __init__(
        self,
        reason: Reason | None = None,
        reject: bool = False,
        not_before: datetime | None = None,
        window: DailyWindow | None = None,
        workdays: frozenset[int] | None = None,
        skip_holidays: bool = False,
        channel: str | None = None,
    ) -> None:
        """Set the fields (see types.slot_setters)."""
        _set_reason(self, reason)
        _set_reject(self, reject)
        _set_not_before(self, not_before)
        _set_window(self, window)
        _set_workdays(self, workdays)
        _set_skip_holidays(self, skip_holidays)
        _set_outcome_channel(self, channel)

    @classmethod
    def quiet(cls) -> RuleOutcome:
        """The rule had nothing to say."""
        # Immutable and the same every time, so one shared instance serves every rule.
        return QUIET if cls is RuleOutcome else cls()

    @classmethod
    def rejected(cls, rule: str, detail: str) -> RuleOutcome:
        """The rule refuses the message."""
        return cls(reason=Reason(rule, _REJECT, detail), reject=True)

    @classmethod
    def exempt(cls, rule: str, detail: str) -> RuleOutcome:
        """The rule does not apply to this message, and says why."""
        return cls(reason=Reason(rule, _EXEMPT, detail))


(
    _set_reason,
    _set_reject,
    _set_not_before,
    _set_window,
    _set_workdays,
    _set_skip_holidays,
    _set_outcome_channel,
) = slot_setters(RuleOutcome)

# The outcome of a rule with nothing to say: immutable, so rules return this one instance
# (the engine's scheduler also skips it by identity).
QUIET = RuleOutcome()
# Enum members looked up once: a lookup on an Enum class is slow in Python 3.11.
_REJECT, _EXEMPT = Verdict.REJECT, Verdict.EXEMPT
