"""Cluster-wide counters (timeouts fired, timeout lateness, events pushed),
kept in one Redis hash so every process (web and workers) adds to the same
figures; app.metrics exports them at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import redis

from core.breaker import CircuitOpen
from domain.events import Event, Push

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the timeout lateness histogram kept in Redis.
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class ClusterCounters:
    """Counters shared by every process, kept in one Redis hash. A failed
    increment is logged and dropped: metrics must never break a transition."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.key = f"{prefix}:metrics"

    def record_pushes(self, pushes: Iterable[Push]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        n = 0
        for push in pushes:
            n += 1
            pipe.hincrby(self.key, f"pushed:{push.event.value}", 1)
            payload = push.payload if isinstance(push.payload, dict) else {}
            if push.event is Event.CLIENT_RETURNED_TO_GTR and payload.get("reason") == "timeout":
                pipe.hincrby(self.key, "timeouts", 1)
                deadline, fired = payload.get("deadline"), payload.get("ts")
                if isinstance(deadline, int | float) and isinstance(fired, int | float):
                    lateness = max(0.0, float(fired) - float(deadline))
                    pipe.hincrbyfloat(self.key, "lateness:sum", lateness)
                    pipe.hincrby(self.key, "lateness:count", 1)
                    for bound in LATENESS_BUCKETS:
                        if lateness <= bound:
                            pipe.hincrby(self.key, f"lateness:le:{bound}", 1)
        if not n:
            return
        try:
            pipe.execute()
        except CircuitOpen:
            log.debug("metrics not recorded: Redis down")  # the breaker said so once
        except redis.RedisError as exc:
            log.warning("metrics not recorded: %s", exc)

    def read(self) -> dict[str, float]:
        raw = self.redis.hgetall(self.key)
        return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}


class MeteredPublisher:
    """The publisher every process uses, counting what it pushes (a timeout is
    a CLIENT_RETURNED_TO_GTR push with reason "timeout"; its envelope carries
    the deadline and the instant it fired, hence the lateness)."""

    def __init__(self, inner: Any, counters: ClusterCounters) -> None:
        self.inner = inner
        self.counters = counters

    def publish(self, pushes: Iterable[Push]) -> None:
        pushes = list(pushes)
        self.inner.publish(pushes)
        self.counters.record_pushes(pushes)

    def __getattr__(self, name: str) -> Any:
        """Anything else the publisher offers is the publisher's own."""
        return getattr(self.inner, name)
