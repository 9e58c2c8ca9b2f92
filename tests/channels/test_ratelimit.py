"""Per-channel token buckets, in process and shared through Redis."""

from __future__ import annotations

import os

import pytest

from mannerly.channels.ratelimit import LocalRateLimiter, RedisRateLimiter


class FakeMonotonic:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        """Start at zero."""
        self.now = 0.0

    def __call__(self) -> float:
        """The current reading."""
        return self.now


def test_local_bucket_allows_a_burst_of_one_second_then_paces():
    """At 5/s: five go at once, the sixth waits 0.2 s, and after 0.2 s one more goes."""
    clock = FakeMonotonic()
    limiter = LocalRateLimiter(clock)
    assert [limiter.acquire("c1", 5) for _ in range(5)] == [0.0] * 5
    assert limiter.acquire("c1", 5) == pytest.approx(0.2)
    clock.now += 0.2
    assert limiter.acquire("c1", 5) == 0.0
    assert limiter.acquire("c2", 5) == 0.0  # another channel has its own bucket


def test_zero_rate_means_unlimited():
    """A channel without a limit never waits."""
    limiter = LocalRateLimiter(FakeMonotonic())
    assert all(limiter.acquire("c", 0) == 0.0 for _ in range(100))


@pytest.fixture
def redis_url():
    """The local Redis server, or a skip (a failure on CI)."""
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis not reachable at 127.0.0.1:6379")
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    return url


def test_redis_bucket_is_shared_between_limiters(redis_url):
    """Two limiters (two worker processes) draw from one bucket per channel."""
    import uuid

    key = f"test-{uuid.uuid4().hex}"
    first, second = RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)
    taken = [first.acquire(key, 4) == 0.0 for _ in range(2)] + [second.acquire(key, 4) == 0.0 for _ in range(2)]
    assert taken == [True] * 4
    assert second.acquire(key, 4) > 0  # the fifth within the same second waits, whoever asks
