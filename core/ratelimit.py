"""Rate limits with counters shared by every web process (fixed windows in
Redis, one atomic Lua call per hit). Limits come from settings
(RATE_LIMIT_LOGIN, RATE_LIMIT_HEARTBEAT, RATE_LIMIT_START).

If Redis does not answer, the request goes through (logged): a limiter that
refuses service when its counter store is down would turn a Redis blip into
an outage of logins and heartbeats, which is worse than a short unlimited
window."""

from __future__ import annotations

import logging
import math
import time

import redis

from domain.errors import DomainError

log = logging.getLogger(__name__)

#: INCR the window's counter, start its expiry on the first hit (or if it was
#: lost), and return the count and the milliseconds left in the window. With
#: a second key (the heartbeat's session copy, core.cache) and the request
#: within its limit (ARGV[2]), renew that key's TTL to ARGV[3] ms in the same
#: round trip; the third value says whether it existed (-1: not asked).
HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
local renewed = -1
if KEYS[2] and n <= tonumber(ARGV[2]) then
  renewed = redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return {n, ttl, renewed}
"""


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int, **details) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.headers = {"Retry-After": str(retry_after)}


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self._script = client.register_script(HIT)
        self._down_since: float | None = None

    def hit(self, name: str, ident: str, limit: tuple[int, int] | None) -> tuple[int, int]:
        """Count one request of `ident` against `name`; raise RateLimited past the
        limit. Returns (remaining, seconds left in the window); (-1, 0) when not
        counted (no limit, or Redis down)."""
        remaining, left, _ = self.hit_and_renew(name, ident, limit)
        return remaining, left

    def hit_and_renew(self, name: str, ident: str, limit: tuple[int, int] | None,
                      renew: tuple[str, int] | None = None) -> tuple[int, int, bool | None]:
        """`hit`, and when the request is within its limit, renew the TTL of
        `renew` = (key, ms) in the same round trip: the heartbeat's two Redis
        calls made one (its profile: each round trip was ~20 % of its CPU).
        The third value: whether that key existed; None when not renewed
        here (no limit, Redis down, or not asked): the caller renews it itself."""
        if limit is None:
            return -1, 0, None
        count, window = limit
        key = f"{self.prefix}:rl:{name}:{ident}"
        keys, args = [key], [window * 1000]
        if renew is not None:
            keys.append(renew[0])
            args += [count, max(1, int(renew[1]))]
        try:
            n, ttl_ms, renewed = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            now = time.monotonic()
            if self._down_since is None or now - self._down_since > 60:
                log.warning("rate limit %s not enforced, Redis error: %s", name, exc)
                self._down_since = now
            return -1, 0, None
        self._down_since = None
        retry_after = max(1, math.ceil(int(ttl_ms) / 1000))
        if int(n) > count:
            raise RateLimited(f"too many {name} requests; retry in {retry_after} s",
                              retry_after=retry_after, limit=f"{count}/{window}s")
        return count - int(n), retry_after, None if int(renewed) < 0 else bool(renewed)
