"""Business hours: open or not, the next opening across weekends and zones, open-time arithmetic, wording."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from mannerly.business_hours import InvalidHours, add_open_time, auto_reply_text, is_open, next_open, parse_hours

WEEKDAYS_9_TO_6 = {str(day): [["09:00", "18:00"]] for day in range(5)}


@dataclass
class FakeTeam:
    """Just what the functions read from a team."""

    hours: dict[str, Any] = field(default_factory=lambda: dict(WEEKDAYS_9_TO_6))
    time_zone: str = "Asia/Seoul"


def utc(text: str) -> datetime:
    """An aware UTC moment from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


# (hours, zone, now UTC, expected next opening UTC)
NEXT_OPEN = [
    # Seoul (UTC+9), Tue 4 Mar 2025 23:00 local -> Wed 09:00 local = 00:00 UTC.
    (WEEKDAYS_9_TO_6, "Asia/Seoul", "2025-03-04 14:00", "2025-03-05 00:00"),
    # Open now -> now.
    (WEEKDAYS_9_TO_6, "Asia/Seoul", "2025-03-05 02:00", "2025-03-05 02:00"),
    # Friday 19:00 in Seoul -> Monday 09:00.
    (WEEKDAYS_9_TO_6, "Asia/Seoul", "2025-03-07 10:00", "2025-03-10 00:00"),
    # Saturday midday in Jakarta (UTC+7) -> Monday 09:00 Jakarta = 02:00 UTC.
    (WEEKDAYS_9_TO_6, "Asia/Jakarta", "2025-03-08 05:00", "2025-03-10 02:00"),
    # Athens across the EU DST change (Sun 30 Mar 2025): Sat evening -> Mon 09:00 EEST = 06:00 UTC.
    (WEEKDAYS_9_TO_6, "Europe/Athens", "2025-03-29 18:00", "2025-03-31 06:00"),
    # New York before opening on a Monday (EST, UTC-5) -> 14:00 UTC.
    (WEEKDAYS_9_TO_6, "America/New_York", "2025-03-03 12:00", "2025-03-03 14:00"),
    # A lunch break: 09–12 and 13–18; at 12:30 the next opening is 13:00.
    ({"2": [["09:00", "12:00"], ["13:00", "18:00"]]}, "UTC", "2025-03-05 12:30", "2025-03-05 13:00"),
    # Saturdays only, to midnight.
    ({"5": [["20:00", "24:00"]]}, "UTC", "2025-03-05 12:00", "2025-03-08 20:00"),
    # No hours: always open.
    ({}, "UTC", "2025-03-08 03:00", "2025-03-08 03:00"),
]


@pytest.mark.parametrize(("hours", "zone_name", "now", "expected"), NEXT_OPEN)
def test_next_open_table(hours, zone_name: str, now: str, expected: str) -> None:
    team = FakeTeam(hours=hours, time_zone=zone_name)
    assert next_open(team, utc(now)) == utc(expected)
    assert is_open(team, utc(now)) == (now == expected)


def test_closing_minute_is_closed() -> None:
    team = FakeTeam()
    assert is_open(team, utc("2025-03-05 08:59"))  # 17:59 Seoul
    assert not is_open(team, utc("2025-03-05 09:00"))  # 18:00 Seoul


def test_open_time_arithmetic_skips_nights_and_weekends() -> None:
    team = FakeTeam()
    # Friday 17:30 Seoul + 60 open minutes = Monday 09:30 Seoul.
    assert add_open_time(team, utc("2025-03-07 08:30"), 60) == utc("2025-03-10 00:30")
    # Without hours, wall-clock time.
    assert add_open_time(FakeTeam(hours={}), utc("2025-03-07 08:30"), 60) == utc("2025-03-07 09:30")


@pytest.mark.parametrize("hours", [
    {"7": [["09:00", "18:00"]]}, {"0": [["18:00", "09:00"]]}, {"0": [["9:00", "18:00"]]},
    {"0": [["09:00", "12:00"], ["11:00", "13:00"]]}, {"0": "09:00-18:00"},
])
def test_malformed_hours_are_refused(hours) -> None:
    with pytest.raises(InvalidHours):
        parse_hours(hours)


# (language, now UTC, business zone, customer zone, expected fragment)
WORDING = [
    ("en", "2025-03-04 14:00", "Asia/Seoul", "Asia/Seoul", "a person will answer from 09:00 tomorrow."),
    ("en", "2025-03-04 14:00", "Asia/Seoul", "Asia/Jakarta", "from 09:00 tomorrow (your time 07:00)."),
    ("ko", "2025-03-04 14:00", "Asia/Seoul", "Asia/Seoul", "내일 09:00부터 상담원이 답변드리겠습니다."),
    ("id", "2025-03-07 10:00", "Asia/Seoul", "Asia/Jakarta", "mulai Senin pukul 09:00 (waktu Anda 07:00)."),
    ("el", "2025-03-07 10:00", "Asia/Seoul", "Europe/Athens", "από τη Δευτέρα στις 09:00 (ώρα σας 02:00)."),
    # New York moved to summer time on Sunday 9 March 2025: 09:00 Monday in Seoul is 20:00 Sunday there.
    ("en", "2025-03-07 10:00", "Asia/Seoul", "America/New_York", "from 09:00 on Monday (your time 20:00 on Sunday)."),
]


@pytest.mark.parametrize(("language", "now", "business_zone", "customer_zone", "fragment"), WORDING)
def test_auto_reply_wording(language: str, now: str, business_zone: str, customer_zone: str, fragment: str) -> None:
    team = FakeTeam(time_zone=business_zone)
    moment = utc(now)
    assert fragment in auto_reply_text(language, next_open(team, moment), moment, business_zone, customer_zone)


def test_workspace_wording_replaces_the_sentence() -> None:
    moment = utc("2025-03-04 14:00")
    text = auto_reply_text("en", next_open(FakeTeam(), moment), moment, "Asia/Seoul", None,
                           "Closed now. Back {when}{your_time}. {not a placeholder}")
    assert text == "Closed now. Back 09:00 tomorrow. {not a placeholder}"
