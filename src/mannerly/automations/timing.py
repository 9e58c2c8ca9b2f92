"""When automations are due, as pure functions of stored values, a time zone and `now` (no I/O).

Dates in contact attributes are written as ISO text: "1990-03-05" (a date), "--03-05" or
"03-05" (a yearly date without a year), or "2025-03-05T10:00" / "2025-03-05 10:00+09:00" (a
moment; without an offset it is read in the contact's own zone).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTH_DAY = re.compile(r"^(?:(\d{4})[-/.])?-{0,2}(\d{1,2})[-/.](\d{1,2})$")
_HAS_TIME = re.compile(r"\d[T ]\d{1,2}:\d{2}")


@lru_cache(maxsize=1024)
def zone_of(name: str | None) -> ZoneInfo:
    """The IANA zone by name; UTC when the name is missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class YearlyDate:
    """A yearly date (birthday, anniversary) and, when known, the year it started."""

    month: int
    day: int
    year: int | None = None


def parse_yearly_date(value: object) -> YearlyDate | None:
    """A birthday-like value as month/day (and year); None when it is not a date."""
    if value is None:
        return None
    text = str(value).strip()
    if _HAS_TIME.search(text):
        text = text[:10]
    match = _MONTH_DAY.match(text)
    if match is None:
        return None
    year = int(match.group(1)) if match.group(1) else None
    month, day = int(match.group(2)), int(match.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if day > calendar.monthrange(year or 2000, month)[1]:  # 2000 is a leap year: 29 Feb is allowed
        return None
    return YearlyDate(month=month, day=day, year=year)


def yearly_date_in(yearly: YearlyDate, year: int) -> date:
    """The date a yearly date falls on in a given year; 29 February falls on 28 February otherwise."""
    last_day = calendar.monthrange(year, yearly.month)[1]
    return date(year, yearly.month, min(yearly.day, last_day))


def yearly_occurrence(value: object, now: datetime, zone_name: str | None, local_hour: int) -> str | None:
    """The occurrence key (the local year) when a yearly date is today in the zone and local_hour has come."""
    yearly = parse_yearly_date(value)
    if yearly is None:
        return None
    local = now.astimezone(zone_of(zone_name))
    if yearly.year is not None and yearly.year >= local.year:
        return None  # born or started this year: nothing to celebrate yet
    if local.date() != yearly_date_in(yearly, local.year) or local.hour < local_hour:
        return None
    return str(local.year)


def month_day_patterns(now: datetime) -> list[str]:
    """LIKE patterns ('%-MM-DD') that catch every yearly date that is today somewhere on Earth.

    Local dates run from UTC-12 to UTC+14, so yesterday, today and tomorrow in UTC cover them;
    in years without 29 February, 29 February birthdays are greeted on the 28th.
    """
    patterns = []
    for shift in (-1, 0, 1):
        day = (now + timedelta(days=shift)).date()
        patterns.append(f"%{day.month:02d}-{day.day:02d}")
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            patterns.append("%02-29")
    return patterns


@dataclass(frozen=True)
class ReminderWindow:
    """When a reminder may go (from fire_at) and until when it still makes sense (before `until`)."""

    fire_at: datetime
    until: datetime

    def open_at(self, now: datetime) -> bool:
        """True when `now` lies in [fire_at, until)."""
        return self.fire_at <= now < self.until


def parse_moment(value: object, zone_name: str | None) -> tuple[datetime, bool] | None:
    """A stored date or moment as an aware datetime and whether it had a time (date-only values: local midnight)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=zone_of(zone_name))
        return moment, True
    text = str(value).strip()
    if not text:
        return None
    if _HAS_TIME.search(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone_of(zone_name))
        return moment, True
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return None
    return datetime.combine(day, time(0), tzinfo=zone_of(zone_name)), False


def reminder_window(value: object, zone_name: str | None, offset_minutes: int, local_hour: int) -> ReminderWindow | None:
    """When a reminder relative to a date or moment is due.

    A moment (an appointment at 10:00): fire at moment + offset; a reminder before it makes
    sense until the moment itself, a follow-up after it for one day.
    A date (payment due on the 10th): fire at local_hour on date + offset, until the end of
    that local day (or of the date itself, when the reminder comes before it).
    offset_minutes is negative for "before" (-1440 = a day before).
    """
    parsed = parse_moment(value, zone_name)
    if parsed is None:
        return None
    moment, has_time = parsed
    offset = timedelta(minutes=offset_minutes)
    if has_time:
        fire_at = moment + offset
        return ReminderWindow(fire_at=fire_at, until=moment if offset_minutes < 0 else fire_at + timedelta(days=1))
    zone = zone_of(zone_name)
    fire_at = datetime.combine(moment.date(), time(local_hour), tzinfo=zone) + offset
    last_day = max(moment.date(), fire_at.astimezone(zone).date())
    return ReminderWindow(fire_at=fire_at, until=datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone))


def normalized_value(value: object) -> str:
    """A stored date value as text, for occurrence keys (a changed date fires again)."""
    return str(value).strip()[:64]


def latest(*moments: datetime | None) -> datetime | None:
    """The latest of some optional moments."""
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else None


def win_back_occurrence(last_activity: datetime | None, now: datetime, days: int) -> str | None:
    """The occurrence key (the last activity's date) when a contact has been quiet for `days` days."""
    if last_activity is None or now - last_activity < timedelta(days=days):
        return None
    return "quiet-since:" + last_activity.date().isoformat()
