"""The pure planning parts: throttle slots and the local-time histogram."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from mannerly.campaigns.planner import LocalTimeHistogram, SlotTable, bars, minute_index

T0 = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


def test_slots_never_put_more_than_the_throttle_in_one_minute_and_are_evenly_spaced():
    table = SlotTable(per_minute=4)
    slots = [table.take(T0) for _ in range(10)]
    assert slots[:5] == [T0, T0 + timedelta(seconds=15), T0 + timedelta(seconds=30), T0 + timedelta(seconds=45),
                         T0 + timedelta(minutes=1)]
    assert max(Counter(minute_index(slot) for slot in slots).values()) == 4
    assert slots == sorted(slots)


def test_a_later_earliest_moment_starts_its_own_minute_and_earlier_minutes_keep_their_room():
    table = SlotTable(per_minute=2)
    nine = T0 + timedelta(hours=8)
    assert table.take(nine) == nine
    assert table.take(T0) == T0  # a contact allowed sooner still goes sooner
    assert table.take(nine + timedelta(seconds=20)) == nine + timedelta(seconds=30)
    assert table.take(nine) == nine + timedelta(minutes=1)


def test_a_slot_is_never_before_the_earliest_allowed_moment():
    table = SlotTable(per_minute=60)
    late = T0 + timedelta(seconds=42)
    assert table.take(late) == late


def test_rebuilding_from_planned_moments_continues_where_planning_stopped():
    first = SlotTable(per_minute=3)
    taken = [first.take(T0) for _ in range(4)]
    rebuilt = SlotTable(per_minute=3)
    for moment in taken:
        rebuilt.count(moment)
    assert rebuilt.take(T0) == first.take(T0)


def test_long_full_runs_stay_cheap():
    table = SlotTable(per_minute=1)
    for _ in range(20000):
        table.take(T0)
    assert table.take(T0) == T0 + timedelta(minutes=20000)


def test_a_throttle_of_zero_is_refused():
    with pytest.raises(ValueError):
        SlotTable(per_minute=0)


def test_histogram_reads_each_moment_in_the_recipients_zone():
    histogram = LocalTimeHistogram()
    histogram.add(T0, "Asia/Seoul")  # 10:00 on 4 March
    histogram.add(T0, "Europe/Athens")  # 03:00 on 4 March
    histogram.add(T0 + timedelta(hours=15), "Asia/Seoul")  # 01:00 on 5 March
    histogram.add(T0, None)  # unknown zone: UTC
    assert histogram.hours()[10] == 1 and histogram.hours()[3] == 1 and histogram.hours()[1] == 2
    assert histogram.days() == [("2025-03-04", 3), ("2025-03-05", 1)]


def test_bars_scale_to_the_tallest():
    assert bars([0, 5, 10], 100) == [0, 50, 100]
    assert bars([0, 0], 100) == [0, 0]
