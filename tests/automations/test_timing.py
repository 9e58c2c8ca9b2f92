"""When automations are due: yearly dates in the contact's zone (date line included), reminders, win-back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mannerly.automations.timing import (
    month_day_patterns,
    parse_yearly_date,
    reminder_window,
    win_back_occurrence,
    yearly_occurrence,
)


def utc(text: str) -> datetime:
    """An ISO UTC moment."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


YEARLY_CASES = [
    # (stored value, now UTC, zone, local hour, expected occurrence key, why)
    ("1990-03-05", "2025-03-04T23:00", "Asia/Seoul", 8, "2025", "08:00 on 5 March in Seoul"),
    ("1990-03-05", "2025-03-04T23:00", "Asia/Seoul", 9, None, "before the chosen local hour"),
    ("1990-03-05", "2025-03-04T23:00", "America/New_York", 8, None, "still 4 March in New York"),
    ("1990-03-05", "2025-03-05T13:00", "America/New_York", 8, "2025", "08:00 on 5 March in New York"),
    ("1990-03-05", "2025-03-05T15:30", "Asia/Seoul", 8, None, "6 March 00:30 in Seoul: the day is over"),
    ("--03-05", "2025-03-04T20:00", "Pacific/Kiritimati", 10, "2025", "UTC+14: already 5 March, 10:00"),
    ("--03-04", "2025-03-04T20:00", "Pacific/Kiritimati", 10, None, "UTC+14: 4 March is over there"),
    ("--03-04", "2025-03-04T20:00", "Pacific/Pago_Pago", 9, "2025", "UTC-11: 4 March, 09:00"),
    ("--03-05", "2025-03-04T20:00", "Pacific/Pago_Pago", 9, None, "UTC-11: 5 March has not begun"),
    ("03-05", "2025-03-05T01:00", "Asia/Jakarta", 8, "2025", "month-day without a year"),
    ("1990/03/05", "2025-03-05T01:00", "Asia/Jakarta", 8, "2025", "slashes"),
    ("1990-03-05T00:00:00", "2025-03-05T06:00", "Europe/Athens", 8, "2025", "a moment: its date counts"),
    ("2000-02-29", "2025-02-28T01:00", "Asia/Seoul", 10, "2025", "29 Feb greeted on 28 Feb in common years"),
    ("2000-02-29", "2024-02-28T01:00", "Asia/Seoul", 10, None, "leap year: not on the 28th"),
    ("2000-02-29", "2024-02-29T01:00", "Asia/Seoul", 10, "2024", "leap year: on the 29th"),
    ("2025-03-05", "2025-03-05T01:00", "Asia/Seoul", 10, None, "born this year: nothing to celebrate yet"),
    ("1990-02-30", "2025-03-02T01:00", "Asia/Seoul", 10, None, "not a date"),
    ("next tuesday", "2025-03-04T01:00", "Asia/Seoul", 10, None, "not a date"),
    (None, "2025-03-04T01:00", "Asia/Seoul", 10, None, "no value"),
    ("1990-03-05", "2025-03-05T05:00", None, 5, "2025", "unknown zone: UTC"),
]


@pytest.mark.parametrize(("value", "now", "zone", "hour", "expected", "why"), YEARLY_CASES,
                         ids=[case[-1] for case in YEARLY_CASES])
def test_yearly_occurrence(value, now, zone, hour, expected, why) -> None:
    """A birthday or anniversary is due on its local date from the local hour on, once per year (the key)."""
    assert yearly_occurrence(value, utc(now), zone, hour) == expected, why


def test_prefilter_patterns_cover_every_zone_of_the_yearly_cases() -> None:
    """The SQL LIKE patterns of a moment match every value that is due somewhere at that moment."""
    for value, now, zone, hour, expected, _why in YEARLY_CASES:
        if expected is None:
            continue
        patterns = month_day_patterns(utc(now))
        month_day = str(value)[:10].replace("/", "-")[-5:]
        assert any(month_day.endswith(pattern.lstrip("%").replace("_", "-")) for pattern in patterns), (value, now)


def test_parse_yearly_date() -> None:
    """Month and day (and the year when given)."""
    parsed = parse_yearly_date("1988-12-31")
    assert (parsed.month, parsed.day, parsed.year) == (12, 31, 1988)
    assert parse_yearly_date("--02-29").year is None
    assert parse_yearly_date("13-01") is None


REMINDER_CASES = [
    # (stored value, zone, offset minutes, local hour, now UTC, expected due, why)
    ("2025-03-06T10:00:00+09:00", "Asia/Seoul", -1440, 10, "2025-03-05T00:59", False, "a minute before 24 h before"),
    ("2025-03-06T10:00:00+09:00", "Asia/Seoul", -1440, 10, "2025-03-05T01:00", True, "exactly 24 h before"),
    ("2025-03-06T10:00:00+09:00", "Asia/Seoul", -1440, 10, "2025-03-06T00:59", True, "still before the visit"),
    ("2025-03-06T10:00:00+09:00", "Asia/Seoul", -1440, 10, "2025-03-06T01:00", False, "the visit has begun"),
    ("2025-03-06T10:00", "Asia/Seoul", -120, 10, "2025-03-05T23:00", True, "no offset given: read in the contact's zone"),
    ("2025-03-10", "Asia/Jakarta", -3 * 1440, 9, "2025-03-07T01:59", False, "payment due: 3 days before, 09:00 WIB"),
    ("2025-03-10", "Asia/Jakarta", -3 * 1440, 9, "2025-03-07T02:00", True, "payment due: 3 days before, 09:00 WIB"),
    ("2025-03-10", "Asia/Jakarta", -3 * 1440, 9, "2025-03-10T16:59", True, "until the due day ends locally"),
    ("2025-03-10", "Asia/Jakarta", -3 * 1440, 9, "2025-03-10T17:00", False, "the due day is over"),
    ("2025-03-10", "Europe/Athens", 0, 10, "2025-03-10T08:00", True, "deadline day at 10:00 Athens"),
    ("2025-03-10", "Europe/Athens", 0, 10, "2025-03-10T07:59", False, "deadline day before 10:00"),
    ("2025-03-10", "Europe/Athens", 1440, 10, "2025-03-11T08:00", True, "a day after, at 10:00"),
    ("not a date", "Europe/Athens", 0, 10, "2025-03-10T08:00", False, "garbage never fires"),
]


@pytest.mark.parametrize(("value", "zone", "offset", "hour", "now", "expected", "why"), REMINDER_CASES,
                         ids=[case[-1] for case in REMINDER_CASES])
def test_reminder_window(value, zone, offset, hour, now, expected, why) -> None:
    """Reminders relative to a moment go from moment+offset until it; relative to a date, at the local hour."""
    window = reminder_window(value, zone, offset, hour)
    assert (window is not None and window.open_at(utc(now))) is expected, why


def test_win_back_occurrence_is_keyed_by_the_last_activity() -> None:
    """Quiet for the days asked: the key names the lapse, so a customer who returns and lapses again is asked again."""
    now = utc("2025-03-04T01:00")
    assert win_back_occurrence(now - timedelta(days=29), now, 30) is None
    assert win_back_occurrence(now - timedelta(days=30), now, 30) == "quiet-since:2025-02-02"
    assert win_back_occurrence(None, now, 30) is None
