"""Per-channel send rate limits (C7): a token bucket in the process, or shared through Redis.

`acquire(key, rate)` answers how long to wait before one more message may go
(0 when it may go now) and takes the token when it answers 0. With several
worker processes the Redis bucket makes the limit hold across all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    """Tokens left and when they were last counted."""

    tokens: float
    updated: float


class LocalRateLimiter:
    """Token buckets in this process, one per key; burst = one second's worth of tokens."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        """Start with no buckets."""
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def acquire(self, key: str, rate: float) -> float:
        """Seconds to wait before a token is free; 0.0 means one was taken."""
        if rate <= 0:
            return 0.0
        capacity = max(rate, 1.0)
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(tokens=capacity, updated=now))
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate


# KEYS[1] bucket key; ARGV: rate, capacity, now (seconds, float). Returns the wait in microseconds.
_REDIS_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'updated', now)
redis.call('EXPIRE', KEYS[1], 3600)
return math.floor(wait * 1000000)
"""


class RedisRateLimiter:
    """Token buckets kept in Redis, so every worker process shares one limit per channel."""

    def __init__(self, url: str, prefix: str = "mannerly:rate:") -> None:
        """Connect lazily to Redis at `url`."""
        import redis

        self._client = redis.Redis.from_url(url)
        self._script = self._client.register_script(_REDIS_TOKEN_BUCKET)
        self._prefix = prefix

    def acquire(self, key: str, rate: float) -> float:
        """Seconds to wait before a token is free; 0.0 means one was taken. Uses Redis's clock."""
        if rate <= 0:
            return 0.0
        seconds, micros = self._client.time()
        waited = self._script(keys=[self._prefix + key], args=[rate, max(rate, 1.0), seconds + micros / 1e6])
        return int(waited) / 1e6


def make_rate_limiter(redis_url: str | None) -> LocalRateLimiter | RedisRateLimiter:
    """Redis-backed when a Redis URL is configured, else in-process."""
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()
