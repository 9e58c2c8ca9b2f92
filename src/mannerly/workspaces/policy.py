"""A workspace's sending policy as stored and edited (validated JSON), and its engine form."""

from __future__ import annotations

from datetime import time, timedelta

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mannerly.policy.types import Policy


class PolicySettings(BaseModel):
    """The editable sending policy of a workspace; legal floors apply on top and cannot be loosened."""

    model_config = ConfigDict(extra="forbid")

    window_start: time = Field(time(9, 0), description="Start of the daily sending window, recipient's local time")
    window_end: time = Field(time(20, 0), description="End of the window (exclusive): 20:00 means 19:59 is the last minute")
    workdays: list[int] | None = Field(
        None, description="Weekdays allowed (0=Monday … 6=Sunday); null = the recipient country's working days"
    )
    skip_holidays: bool = Field(True, description="Hold non-urgent messages on the recipient country's public holidays")
    reply_exemption_hours: float = Field(24, ge=0, le=72, description="Replies this soon after the customer's message ignore the window")
    marketing_cap: int = Field(2, ge=0, le=50, description="Marketing messages per contact per cap period")
    marketing_cap_days: float = Field(7, gt=0, le=90)
    automated_min_gap_minutes: float = Field(60, ge=0, le=10080, description="Minimum gap between automated marketing messages")
    duplicate_window_hours: float = Field(24, ge=0, le=168)
    auto_reply_period_hours: float = Field(12, gt=0, le=168, description="At most one automatic reply per conversation per period")
    sender_intro: bool = True
    max_segments: int = Field(3, ge=1, le=10)
    tracked_link_domains: list[str] = Field(default_factory=list)
    messenger_tags: dict[str, Literal["CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"]] = Field(
        default_factory=dict,
        description="Messenger message tag per transactional topic, used outside the 24-hour window",
    )

    @model_validator(mode="after")
    def _check(self) -> PolicySettings:
        """The window must be a non-empty part of one day; weekdays must be 0–6 and some."""
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be later than window_start (the window lies within one day)")
        if self.workdays is not None:
            if not self.workdays:
                raise ValueError("workdays must name at least one day, or be null for the country's working days")
            if any(day < 0 or day > 6 for day in self.workdays):
                raise ValueError("workdays are 0 (Monday) to 6 (Sunday)")
        return self

    def to_policy(self, brand_names: dict[str, str], default_country: str | None) -> Policy:
        """The engine's Policy for these settings."""
        return Policy(
            window_start=self.window_start,
            window_end=self.window_end,
            workdays=frozenset(self.workdays) if self.workdays is not None else None,
            skip_holidays=self.skip_holidays,
            reply_exemption=timedelta(hours=self.reply_exemption_hours),
            marketing_cap=self.marketing_cap,
            marketing_cap_period=timedelta(days=self.marketing_cap_days),
            automated_min_gap=timedelta(minutes=self.automated_min_gap_minutes),
            duplicate_window=timedelta(hours=self.duplicate_window_hours),
            auto_reply_period=timedelta(hours=self.auto_reply_period_hours),
            default_country=default_country,
            brand_names=dict(brand_names),
            sender_intro=self.sender_intro,
            max_segments=self.max_segments,
            tracked_link_domains=tuple(self.tracked_link_domains),
            messenger_tags=dict(self.messenger_tags),
        )
