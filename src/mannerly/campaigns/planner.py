"""Pure parts of campaign planning: throttle slots, the rule that excluded a contact, local-time histograms.

The throttle is a number of messages per calendar minute. Each message asks for
the first minute at or after its earliest allowed moment (the engine's send_at)
that still has room; inside a minute, messages are spread evenly. Quiet hours and
holidays therefore spread a campaign out instead of piling it up at 09:00.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from mannerly.policy.engine import decide
from mannerly.policy.types import ContactState, Decision, Policy, SendRequest, Verdict

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def minute_index(moment: datetime) -> int:
    """Whole minutes since 1970 (UTC) of a moment."""
    return int((moment - EPOCH).total_seconds() // 60)


def minute_start(index: int) -> datetime:
    """The start of a minute given by minute_index."""
    return EPOCH + timedelta(minutes=index)


@dataclass
class SlotTable:
    """Hands out send times so that no calendar minute gets more than `per_minute` messages."""

    per_minute: int
    counts: dict[int, int] = field(default_factory=dict)
    # Full minutes point to a later minute to try next (path-compressed, so long full runs stay cheap).
    skip: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a throttle that lets nothing through."""
        if self.per_minute < 1:
            raise ValueError("the throttle must allow at least one message per minute")

    def _free_minute(self, index: int) -> int:
        """The first minute at or after index with room left."""
        path = []
        while index in self.skip:
            path.append(index)
            index = self.skip[index]
        for full in path:
            self.skip[full] = index
        return index

    def peek(self, earliest: datetime) -> datetime:
        """The send time take() would give, without taking it."""
        wanted = minute_index(earliest)
        index = self._free_minute(wanted)
        used = self.counts.get(index, 0)
        slot = minute_start(index) + used * (MINUTE / self.per_minute)
        return max(slot, earliest) if index == wanted else slot

    def take(self, earliest: datetime) -> datetime:
        """A send time at or after earliest in a minute with room, and count it."""
        slot = self.peek(earliest)
        self.count(slot)
        return slot

    def count(self, moment: datetime) -> None:
        """Count a message already planned at this moment (used to rebuild the table after a restart)."""
        index = minute_index(moment)
        used = self.counts.get(index, 0) + 1
        self.counts[index] = used
        if used >= self.per_minute:
            self.skip[index] = index + 1


# The ContactState fields the engine reads: all but the phone number, for which country,
# subdivision, zones and reachability stand. Recipients equal in all of them get the same decision.
DECISION_STATE_FIELDS = tuple(item.name for item in fields(ContactState) if item.name != "phone")
# Distinct inputs kept before the cache starts over, so memory stays bounded on campaigns with unique texts.
DECISION_CACHE_LIMIT = 100_000


# The dict-valued fields (consents) go into the key as sorted item tuples, the others as they are.
DICT_STATE_FIELDS = tuple(item.name for item in fields(ContactState)
                          if item.name != "phone" and item.default_factory is dict)
PLAIN_STATE_FIELDS = attrgetter(*(name for name in DECISION_STATE_FIELDS if name not in DICT_STATE_FIELDS))


def decision_key(request: SendRequest, state: ContactState, at: datetime) -> tuple[Any, ...] | None:
    """What a decision depends on, as a dict key; None when a value cannot be hashed."""
    dicts = tuple(tuple(sorted(getattr(state, name).items())) for name in DICT_STATE_FIELDS)
    key = (request, at, dicts, PLAIN_STATE_FIELDS(state))
    try:
        hash(key)
    except TypeError:
        return None
    return key


@dataclass
class DecisionCache:
    """The engine's decisions for one policy by their inputs, so identical recipients are decided once.

    A campaign sends one text to many contacts who differ only in their phone number (same
    language, zones, consents, no history): the engine would reach the same Decision for each.
    """

    policy: Policy
    limit: int = DECISION_CACHE_LIMIT
    decisions: dict[tuple[Any, ...], Decision] = field(default_factory=dict)
    hits: int = 0

    def decide_once(self, request: SendRequest, state: ContactState, at: datetime) -> Decision:
        """decide(request, state, policy, at), computed once per distinct input."""
        key = decision_key(request, state, at)
        if key is None:
            return decide(request, state, self.policy, at)
        found = self.decisions.get(key)
        if found is not None:
            self.hits += 1
            return found
        if len(self.decisions) >= self.limit:
            self.decisions.clear()
        decision = self.decisions[key] = decide(request, state, self.policy, at)
        return decision


def exclusion_rule(decision: Decision) -> str:
    """The id of the rule that refused a message: the first rejecting rule, else the first lint error."""
    for reason in decision.reasons:
        if reason.verdict is Verdict.REJECT:
            return reason.rule
    for finding in decision.lint:
        if finding.severity.value == "error":
            return f"lint.{finding.check}"
    return "rejected"


@dataclass
class LocalTimeHistogram:
    """How many messages go out per local hour of day and per local date, in the recipients' own zones."""

    by_hour: Counter[int] = field(default_factory=Counter)
    by_day: Counter[str] = field(default_factory=Counter)

    def add(self, moment: datetime, zone_name: str | None, weight: int = 1) -> None:
        """Count one message at a UTC moment, read in the recipient's zone (UTC when unknown)."""
        local = moment.astimezone(_zone(zone_name))
        self.by_hour[local.hour] += weight
        self.by_day[local.date().isoformat()] += weight

    def hours(self) -> list[int]:
        """Counts for hours 0–23."""
        return [self.by_hour.get(hour, 0) for hour in range(24)]

    def days(self) -> list[tuple[str, int]]:
        """(date, count) in date order."""
        return sorted(self.by_day.items())


def _zone(name: str | None) -> ZoneInfo:
    """A zone by name, UTC when unknown or invalid."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def bars(values: list[int], height: int = 100) -> list[int]:
    """Values scaled to 0..height for a bar chart (the tallest bar is `height`)."""
    top = max(values) if values else 0
    return [round(value * height / top) if top else 0 for value in values]
