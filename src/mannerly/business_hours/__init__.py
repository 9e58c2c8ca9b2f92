"""Business hours per team and the out-of-hours auto-reply (S4)."""

from mannerly.business_hours.hours import (
    InvalidHours,
    add_open_time,
    is_open,
    next_open,
    open_intervals,
    open_seconds_between,
    parse_hours,
)
from mannerly.business_hours.wording import DEFAULT_AUTO_REPLY, auto_reply_text

__all__ = [
    "DEFAULT_AUTO_REPLY",
    "InvalidHours",
    "add_open_time",
    "auto_reply_text",
    "is_open",
    "next_open",
    "open_intervals",
    "open_seconds_between",
    "parse_hours",
]
