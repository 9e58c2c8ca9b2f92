"""Business hours of a team in the business's time zone: open now? when next? Pure code, no I/O.

Hours are stored as JSON, weekday ("0" = Monday … "6" = Sunday) to a list of
["HH:MM", "HH:MM"] intervals, e.g. {"0": [["09:00", "12:00"], ["13:00", "18:00"]]}; "24:00"
ends an interval at midnight. A team without hours is always open. Anything with `hours`
and `time_zone` attributes works (a Team row, or a test stand-in).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from mannerly.policy.calendar import zone

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
# How far ahead next_open looks before deciding the team never opens.
SEARCH_DAYS = 14


class HasHours(Protocol):
    """What the functions here read from a team."""

    hours: dict[str, Any]
    time_zone: str


class InvalidHours(ValueError):
    """Hours that are not weekday -> list of ["HH:MM", "HH:MM"] intervals."""


def _clock(text: str) -> int:
    """Minutes after midnight for "HH:MM" ("24:00" = 1440)."""
    if not isinstance(text, str) or not _CLOCK.match(text):
        raise InvalidHours(f"'{text}' is not a time of day like 09:00")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def parse_hours(hours: dict[str, Any] | None) -> dict[int, list[tuple[int, int]]]:
    """Weekday -> sorted (start, end) minute intervals; raises InvalidHours on anything malformed."""
    parsed: dict[int, list[tuple[int, int]]] = {}
    for key, intervals in (hours or {}).items():
        if str(key) not in {"0", "1", "2", "3", "4", "5", "6"}:
            raise InvalidHours(f"weekday '{key}' must be 0 (Monday) to 6 (Sunday)")
        if not isinstance(intervals, list):
            raise InvalidHours(f"weekday {key}: expected a list of [start, end] pairs")
        day: list[tuple[int, int]] = []
        for interval in intervals:
            if not isinstance(interval, (list, tuple)) or len(interval) != 2:
                raise InvalidHours(f"weekday {key}: each interval is [start, end]")
            start, end = _clock(interval[0]), _clock(interval[1])
            if end <= start:
                raise InvalidHours(f"weekday {key}: {interval[0]}–{interval[1]} ends before it starts")
            day.append((start, end))
        day.sort()
        for (_, previous_end), (next_start, _) in zip(day, day[1:]):
            if next_start < previous_end:
                raise InvalidHours(f"weekday {key}: intervals overlap")
        parsed[int(key)] = day
    return parsed


def validate_time_zone(name: str) -> str:
    """The IANA zone name, or InvalidHours when it is unknown."""
    try:
        zone(name)
    except (KeyError, ValueError) as error:
        raise InvalidHours(f"unknown time zone '{name}'") from error
    return name


def _local_moment(day: date, minutes: int, zone_name: str) -> datetime:
    """The UTC instant of a local day + minutes after midnight (1440 = next midnight)."""
    # Wall-clock arithmetic on the naive local time, so DST days keep their clock times.
    naive = datetime.combine(day, time(0, 0)) + timedelta(minutes=minutes)
    return naive.replace(tzinfo=zone(zone_name)).astimezone(UTC)


def open_intervals(team: HasHours, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The team's open periods overlapping [start, end), clipped to it, as UTC pairs in order."""
    schedule = parse_hours(team.hours)
    if not schedule:
        return [(start, end)]
    zone_name = team.time_zone or "UTC"
    day = start.astimezone(zone(zone_name)).date() - timedelta(days=1)
    last_day = end.astimezone(zone(zone_name)).date()
    periods: list[tuple[datetime, datetime]] = []
    while day <= last_day:
        for open_minute, close_minute in schedule.get(day.weekday(), []):
            opens = _local_moment(day, open_minute, zone_name)
            closes = _local_moment(day, close_minute, zone_name)
            if closes > start and opens < end:
                periods.append((max(opens, start), min(closes, end)))
        day += timedelta(days=1)
    return periods


def is_open(team: HasHours, now: datetime) -> bool:
    """True when the team is inside its business hours at `now`."""
    return bool(open_intervals(team, now, now + timedelta(seconds=1)))


def next_open(team: HasHours, now: datetime) -> datetime:
    """The first moment at or after `now` when the team is open (`now` itself when open already).

    A team whose hours name no day at all is always open; hours that never open within
    two weeks are treated the same way rather than promising a time that never comes.
    """
    periods = open_intervals(team, now, now + timedelta(days=SEARCH_DAYS))
    return periods[0][0] if periods else now


def add_open_time(team: HasHours, start: datetime, minutes: float) -> datetime:
    """The moment `minutes` of open business time after `start` (SLA targets count open time only)."""
    remaining = timedelta(minutes=minutes)
    window_start = start
    # Two-week windows until the time fits; hours that never open fall back to wall-clock time.
    for _ in range(8):
        periods = open_intervals(team, window_start, window_start + timedelta(days=SEARCH_DAYS))
        if not periods:
            break
        for opens, closes in periods:
            if closes - opens >= remaining:
                return opens + remaining
            remaining -= closes - opens
        window_start += timedelta(days=SEARCH_DAYS)
    return window_start + remaining


def open_seconds_between(team: HasHours, start: datetime, end: datetime) -> float:
    """How many seconds of business time lie between two moments."""
    if end <= start:
        return 0.0
    return sum((closes - opens).total_seconds() for opens, closes in open_intervals(team, start, end))
