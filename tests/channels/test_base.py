"""Statuses never move backwards, whatever order the receipts arrive in."""

from __future__ import annotations

import pytest

from mannerly.channels.base import advance_status, normalize_status, status_rank

# (current, reported, expected)
ADVANCE_CASES = [
    ("pending", "sending", "sending"),
    ("sending", "queued", "queued"),
    ("sending", "sent", "sent"),
    ("queued", "sent", "sent"),
    ("sent", "delivered", "delivered"),
    ("sent", "undelivered", "undelivered"),
    ("sent", "failed", "failed"),
    ("delivered", "read", "read"),
    # Late or duplicate reports change nothing.
    ("sent", "queued", "sent"),
    ("delivered", "sent", "delivered"),
    ("delivered", "queued", "delivered"),
    ("read", "delivered", "read"),
    ("delivered", "delivered", "delivered"),
    # A delivery report that overtakes the "sent" report wins.
    ("sending", "delivered", "delivered"),
    ("queued", "delivered", "delivered"),
    # Among final statuses the first one stays.
    ("delivered", "failed", "delivered"),
    ("undelivered", "delivered", "undelivered"),
    ("failed", "undelivered", "failed"),
    # Read implies delivered, so it still beats a final failure report.
    ("undelivered", "read", "read"),
    # Unknown never overwrites a known status; it only settles a hand-off in doubt.
    ("sent", "unknown", "sent"),
    ("delivered", "unknown", "delivered"),
    ("queued", "unknown", "queued"),
    ("pending", "unknown", "pending"),
    ("sending", "unknown", "unknown"),
    # Anything the provider knows replaces unknown.
    ("unknown", "queued", "queued"),
    ("unknown", "sent", "sent"),
    ("unknown", "delivered", "delivered"),
    ("unknown", "failed", "failed"),
    ("unknown", "pending", "unknown"),
    # Decisions and inbound rows never change through delivery reports.
    ("rejected", "delivered", "rejected"),
    ("received", "delivered", "received"),
    ("pending", "rejected", "pending"),
]


@pytest.mark.parametrize(("current", "reported", "expected"), ADVANCE_CASES)
def test_advance_status(current: str, reported: str, expected: str) -> None:
    assert advance_status(current, reported) == expected


def test_status_rank_orders_the_lifecycle() -> None:
    lifecycle = ["pending", "sending", "queued", "sent", "delivered", "read"]
    ranks = [status_rank(status) for status in lifecycle]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert status_rank("delivered") == status_rank("undelivered") == status_rank("failed")


@pytest.mark.parametrize("bad", ["", "DELIVRD", "bounced"])
def test_unrecognized_statuses_are_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        status_rank(bad)
    with pytest.raises(ValueError):
        advance_status("sent", bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("DELIVRD", "delivered"), ("delivrd", "delivered"), ("ESME_WHATEVER", "unknown"), (None, "unknown")],
)
def test_normalize_status_maps_and_keeps_unknowns_as_unknown(raw: str | None, expected: str) -> None:
    status_map = {"DELIVRD": "delivered", "delivrd": "delivered", "BOGUS": "not-a-status"}
    assert normalize_status(status_map, raw) == expected
    assert normalize_status(status_map, "BOGUS") == "unknown"
