"""The Redis side of a session: a hash per client with TTL = time left.

Redis is a cache here, never the truth: every failure is logged and the
caller carries on with the database (the seed's "fallback a MySQL")."""

from __future__ import annotations

import logging
from typing import Any

import redis

from core.breaker import Breaker, CircuitOpen, redis_options

log = logging.getLogger(__name__)


def make_redis(url: str, breaker: Breaker | None = None) -> redis.Redis:
    """A client with short timeouts; with `breaker`, a dead Redis fails fast."""
    return redis.Redis.from_url(url, decode_responses=True, **redis_options(breaker))


def _warn(what: str, exc: Exception) -> None:
    """One warning per failure; none per call while the breaker is open (it
    logged the outage once)."""
    (log.debug if isinstance(exc, CircuitOpen) else log.warning)("%s: %s", what, exc)


class SessionCache:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix

    def key(self, cliente_id: int) -> str:
        return f"{self.prefix}:session:{cliente_id}"

    def put(self, session: dict[str, Any], ttl: float) -> bool:
        """Write the session with its TTL (at least 1 s, Redis' unit)."""
        try:
            key = self.key(session["cliente_id"])
            mapping = {k: ("" if v is None else str(v)) for k, v in session.items()}
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)
            pipe.pexpire(key, max(1000, int(ttl * 1000)))
            pipe.execute()
            return True
        except redis.RedisError as exc:
            _warn(f"redis put failed for cliente {session.get('cliente_id')}", exc)
            return False

    def get(self, cliente_id: int) -> dict[str, str] | None:
        try:
            data = self.redis.hgetall(self.key(cliente_id))
            return data or None
        except redis.RedisError as exc:
            _warn(f"redis get failed for cliente {cliente_id}", exc)
            return None

    def ttl(self, cliente_id: int) -> float | None:
        try:
            ms = self.redis.pttl(self.key(cliente_id))
            return ms / 1000 if ms and ms > 0 else None
        except redis.RedisError:
            return None

    def extend(self, cliente_id: int, ttl: float) -> bool:
        try:
            return bool(self.redis.pexpire(self.key(cliente_id), max(1000, int(ttl * 1000))))
        except redis.RedisError as exc:
            _warn(f"redis expire failed for cliente {cliente_id}", exc)
            return False

    def delete(self, cliente_id: int) -> bool:
        try:
            self.redis.delete(self.key(cliente_id))
            return True
        except redis.RedisError as exc:
            _warn(f"redis delete failed for cliente {cliente_id}", exc)
            return False

    def claim_resync(self, interval: float) -> bool:
        """True when a full resync is due: the marker a resync leaves for
        `interval` s is gone, because it expired or Redis lost its data (then
        the copies are gone too). Only one caller per interval gets True."""
        if interval <= 0:
            return True
        return bool(self.redis.set(f"{self.prefix}:session-resync", "1", nx=True,
                                   px=max(1, int(interval * 1000))))

    def cached_ids(self) -> set[int]:
        """Client ids that have a session key now (SCAN, never KEYS)."""
        prefix = self.key(0)[:-1]
        ids: set[int] = set()
        for key in self.redis.scan_iter(match=f"{prefix}*", count=1000):
            tail = key[len(prefix) :]
            if tail.isdigit():
                ids.add(int(tail))
        return ids

    def ping(self) -> bool:
        return bool(self.redis.ping())
