"""Local-time arithmetic for the engine: daily windows, working days, public holidays.

The engine asks one question of this module: what is the earliest moment at
or after T at which a message may go out in every one of the recipient's time
zones? `next_allowed` answers it by a fixed-point iteration: each zone moves
the candidate forward to its own earliest allowed moment, until all agree.
Because every step moves to the earliest allowed moment of one zone, no
moment allowed in all zones is ever skipped, so the result is the earliest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import holidays

from mannerly.policy.types import slot_setters

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONDAY_TO_FRIDAY = frozenset({0, 1, 2, 3, 4})


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, cached."""
    return ZoneInfo(name)


@lru_cache(maxsize=1024)
def _country_holidays(country: str, year: int) -> holidays.HolidayBase | None:
    """The national public holidays of a country for one year, or None if unknown."""
    try:
        return holidays.country_holidays(country, years=year)
    except NotImplementedError:
        return None


@lru_cache(maxsize=8192)
def holiday_name(country: str | None, day: date) -> str | None:
    """The name of the national public holiday on that day, or None."""
    # Cached: a holidays calendar lookup is slow and the same days come up again and again.
    if not country:
        return None
    calendar = _country_holidays(country.upper(), day.year)
    if calendar is None:
        return None
    return calendar.get(day)


@lru_cache(maxsize=256)
def country_workdays(country: str | None) -> frozenset[int]:
    """The weekdays (Monday=0) that are not the weekend in a country."""
    if not country:
        return MONDAY_TO_FRIDAY
    calendar = _country_holidays(country.upper(), 2000)
    if calendar is None:
        return MONDAY_TO_FRIDAY
    return frozenset(range(7)) - frozenset(calendar.weekend)


class LocalView(NamedTuple):
    """A moment as seen in one time zone: the local datetime, its day, weekday, time of day and description."""

    moment: datetime  # zone attached
    day: date
    weekday: int  # Monday=0
    clock: time  # naive
    described: str  # '22:30 Tue (Asia/Seoul)'


def local_view(moment: datetime, zone_name: str) -> LocalView:
    """An aware moment as seen in one IANA zone (see LocalView)."""
    # Only UTC moments are cached: for them equal keys always mean the same instant.
    if moment.tzinfo is UTC:
        return _utc_local_view(moment, zone_name)
    return _local_view(moment, zone_name)


@lru_cache(maxsize=4096)
def _utc_local_view(moment: datetime, zone_name: str) -> LocalView:
    """local_view of a UTC moment, cached: the rules and the scheduler all ask about `now` in each zone."""
    return _local_view(moment, zone_name)


def _local_view(moment: datetime, zone_name: str) -> LocalView:
    """local_view, computed."""
    local = moment.astimezone(zone(zone_name))
    day = local.date()
    weekday = day.weekday()
    return LocalView(local, day, weekday, local.time(), f"{_clock(local)} {DAY_NAMES[weekday]} ({zone_name})")


def local_moment(moment: datetime, zone_name: str) -> datetime:
    """An aware moment as local time (zone attached) in one IANA zone."""
    return local_view(moment, zone_name).moment


def _clock(moment: time | datetime) -> str:
    """'09:05': hours and minutes, as strftime's %H:%M writes them."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """Times of day [start, end) in local time; end <= start means the window is empty."""

    start: time
    end: time

    def intersect(self, other: DailyWindow | None) -> DailyWindow:
        """The part of the day both windows allow."""
        if other is None:
            return self
        return DailyWindow(max(self.start, other.start), min(self.end, other.end))

    @property
    def empty(self) -> bool:
        """True when no moment of the day is inside."""
        return self.end <= self.start

    def contains(self, moment: time) -> bool:
        """True when a local time of day lies inside the half-open window."""
        return self.start <= moment < self.end

    def label(self) -> str:
        """'09:00–20:00'."""
        return f"{_clock(self.start)}–{_clock(self.end)}"


FULL_DAY = DailyWindow(time(0, 0), time.max)
_MIDNIGHT = time(0, 0)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, init=False)
class Schedule:
    """When sending is allowed, in local time: a daily window and which days count."""

    window: DailyWindow = FULL_DAY
    workdays: frozenset[int] | None = None  # None: every day of the week
    skip_holidays: bool = False
    country: str | None = None

    def __init__(
        self,
        window: DailyWindow = FULL_DAY,
        workdays: frozenset[int] | None = None,
        skip_holidays: bool = False,
        country: str | None = None,
    ) -> None:
        """Set the fields (see types.slot_setters): the engine builds one schedule per message."""
        _set_window(self, window)
        _set_workdays(self, workdays)
        _set_skip_holidays(self, skip_holidays)
        _set_country(self, country)

    def day_open(self, day: date) -> bool:
        """True when the day allows sending at all."""
        if self.workdays is not None and day.weekday() not in self.workdays:
            return False
        if self.skip_holidays and holiday_name(self.country, day):
            return False
        return True

    def allows(self, moment: datetime, zone_name: str) -> bool:
        """True when a UTC moment is allowed in one time zone."""
        view = local_view(moment, zone_name)
        return self.day_open(view.day) and self.window.contains(view.clock)


_set_window, _set_workdays, _set_skip_holidays, _set_country = slot_setters(Schedule)


def _local_to_utc(day: date, moment: time, zone_name: str) -> datetime:
    """A local wall-clock moment as UTC; times in a DST gap map past the gap."""
    if _plain_time(moment):
        # Cache keys ignore `fold` (and compare aware times by offset): only plain times are cached.
        return _naive_local_to_utc(day, moment, zone_name)
    return _combine_to_utc(day, moment, zone_name)


@lru_cache(maxsize=8192)
def _naive_local_to_utc(day: date, moment: time, zone_name: str) -> datetime:
    """_local_to_utc for a naive time of day, cached: window edges repeat day after day."""
    return _combine_to_utc(day, moment, zone_name)


def _combine_to_utc(day: date, moment: time, zone_name: str) -> datetime:
    """A local wall-clock moment as UTC, computed."""
    if moment == time.max:
        # End of day: the next local midnight.
        return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone(zone_name)).astimezone(UTC)
    return datetime.combine(day, moment, tzinfo=zone(zone_name)).astimezone(UTC)


def _window_in_utc(day: date, window: DailyWindow, zone_name: str) -> tuple[datetime, datetime]:
    """The UTC start and end of a daily window on one local day."""
    start, end = window.start, window.end
    # Written out rather than two _plain_time calls: this runs for every scheduled message.
    if start.tzinfo is None and not start.fold and end.tzinfo is None and not end.fold:
        return _cached_window_in_utc(day, start, end, zone_name)
    return _local_to_utc(day, start, zone_name), _local_to_utc(day, end, zone_name)


def _plain_time(moment: time) -> bool:
    """True for a naive fold-0 time, for which equal cache keys mean the very same time."""
    return moment.tzinfo is None and not moment.fold


@lru_cache(maxsize=8192)
def _cached_window_in_utc(day: date, start: time, end: time, zone_name: str) -> tuple[datetime, datetime]:
    """_window_in_utc for plain times, cached: the same windows come up day after day.

    Keyed on the two times rather than the DailyWindow, whose generated __hash__ is Python code.
    """
    return _local_to_utc(day, start, zone_name), _local_to_utc(day, end, zone_name)


def next_allowed_in_zone(moment: datetime, schedule: Schedule, zone_name: str, horizon: datetime) -> datetime | None:
    """The earliest UTC moment >= `moment` that the schedule allows in one zone, or None before horizon."""
    window = schedule.window
    if window.empty:
        return None
    day = local_view(moment, zone_name).day
    while True:
        if schedule.day_open(day):
            start, end = _window_in_utc(day, window, zone_name)
            if moment < end and start < end:
                return max(moment, start)
        day += _ONE_DAY
        if _local_to_utc(day, _MIDNIGHT, zone_name) > horizon:
            return None


def next_allowed(moment: datetime, schedule: Schedule, zone_names: tuple[str, ...], horizon: datetime) -> datetime | None:
    """The earliest UTC moment >= `moment` allowed in every zone, or None if none before horizon."""
    if len(zone_names) == 1:
        # One zone: its earliest allowed moment is already a fixed point (it lies inside an
        # open window of its own local day), so the confirming second pass below is skipped.
        if moment > horizon:
            return None
        earliest = next_allowed_in_zone(moment, schedule, zone_names[0], horizon)
        return None if earliest is None or earliest > horizon else earliest
    candidate = moment
    while candidate <= horizon:
        moved = False
        for zone_name in zone_names:
            earliest = next_allowed_in_zone(candidate, schedule, zone_name, horizon)
            if earliest is None:
                return None
            if earliest > candidate:
                candidate = earliest
                moved = True
        if not moved:
            return candidate
    return None


def describe_local(moment: datetime, zone_name: str) -> str:
    """'22:30 Tue (Asia/Seoul)' for a UTC moment in a zone."""
    return local_view(moment, zone_name).described


@lru_cache(maxsize=256)
def describe_days(workdays: frozenset[int] | None) -> str:
    """'on workdays (Mon–Fri)' or the list of allowed days."""
    if workdays is None or len(workdays) == 7:
        return "every day"
    if workdays == MONDAY_TO_FRIDAY:
        return "on workdays (Mon–Fri)"
    return "on " + ", ".join(DAY_NAMES[day] for day in sorted(workdays))
