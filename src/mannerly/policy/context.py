"""What every rule sees and what every rule returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mannerly.policy.calendar import DailyWindow
from mannerly.policy.types import ContactState, Policy, Reason, SendRequest, Verdict


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's conclusion: a reason when it fired, and what it requires of the send time."""

    reason: Reason | None = None
    reject: bool = False
    not_before: datetime | None = None  # the earliest UTC moment this rule allows
    window: DailyWindow | None = None  # a daily local window this rule imposes
    workdays: frozenset[int] | None = None  # weekdays this rule allows
    skip_holidays: bool = False
    channel: str | None = None  # a channel this rule switched the message to

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


# The outcome of a rule with nothing to say: immutable, so rules return this one instance
# (the engine's scheduler also skips it by identity).
QUIET = RuleOutcome()
# Enum members looked up once: a lookup on an Enum class is slow in Python 3.11.
_REJECT, _EXEMPT = Verdict.REJECT, Verdict.EXEMPT
