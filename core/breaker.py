"""A circuit breaker for Redis, shared by everything in one process that talks to it.

Redis is a cache, a message queue and the Celery broker here, never the truth:
with it down, a start, heartbeat or end must still answer from MySQL at once.
A dead Redis should therefore cost one failed attempt, not one per request per
Redis call: after a failure the breaker stays open for `cooldown` seconds, and
callers skip Redis (a fast `redis.ConnectionError`) instead of connecting. Then
ONE caller probes; success closes it. Connection refused on a local socket is
fast anyway; a black-holed host (a network partition) would otherwise cost
every request a connect timeout."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)


class CircuitOpen(redis.ConnectionError):
    """Raised instead of trying Redis while the breaker is open."""


class Breaker:
    """Open after a failure, half-open (one probe) every `cooldown` seconds."""

    def __init__(self, name: str, cooldown: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._open_since: float | None = None
        self._retry_at = 0.0
        self.failures = 0  # failures seen (including probes), for tests and logs
        self.skipped = 0  # calls refused without trying while open

    @property
    def is_open(self) -> bool:
        return self._open_since is not None

    @property
    def open_since(self) -> float | None:
        return self._open_since

    def blocked(self) -> bool:
        """Would a call be refused now? (Does not take the probe slot.)"""
        return self._open_since is not None and self.clock() < self._retry_at

    def allow(self) -> bool:
        """May the caller try Redis now? While open, only one caller per cooldown."""
        with self._lock:
            if self._open_since is None:
                return True
            now = self.clock()
            if now >= self._retry_at:
                self._retry_at = now + self.cooldown  # this caller is the probe
                return True
            self.skipped += 1
            return False

    def check(self) -> None:
        """Raise redis.ConnectionError at once while the breaker is open."""
        if not self.allow():
            raise CircuitOpen(f"{self.name} is down (circuit open); not tried")

    def failure(self, exc: BaseException | None = None) -> None:
        with self._lock:
            self.failures += 1
            now = self.clock()
            self._retry_at = now + self.cooldown
            if self._open_since is None:
                self._open_since = now
                log.warning("%s unreachable, circuit open (retry every %.1f s): %s",
                            self.name, self.cooldown, exc)

    def success(self) -> None:
        if self._open_since is None:  # the usual case: no lock taken
            return
        with self._lock:
            if self._open_since is not None:
                log.warning("%s reachable again after %.1f s, circuit closed", self.name,
                            self.clock() - self._open_since)
            self._open_since = None


def guarded_connection_class(breaker: Breaker) -> type[redis.Connection]:
    """A redis-py Connection that asks the breaker before connecting and tells
    it how the connection went. Every client built with it (session cache, rate
    limiter, metrics, the Socket.IO publisher) shares the process' one breaker."""

    class GuardedConnection(redis.Connection):
        _cycle_error: BaseException | None = None

        def connect(self) -> None:
            # redis-py retries a failed connect at once; the breaker refuses
            # that retry, and the caller hears the real failure, not "not tried".
            self._cycle_error = None
            try:
                super().connect()
            except CircuitOpen:
                if self._cycle_error is not None:
                    raise self._cycle_error from None
                raise
            finally:
                self._cycle_error = None

        def connect_check_health(self, *args, **kwargs) -> None:
            # Every way of connecting goes through here (connect(), and a send
            # on a closed connection), each attempt of redis-py's retry too.
            if self._sock is not None:
                return
            breaker.check()
            self._probing = True  # this caller holds the probe: its handshake may talk
            try:
                super().connect_check_health(*args, **kwargs)
            except CircuitOpen:
                raise
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                breaker.failure(exc)
                self._cycle_error = exc
                raise
            finally:
                self._probing = False
            breaker.success()

        def send_packed_command(self, command, check_health: bool = True) -> None:
            # A pooled connection opened before Redis froze would otherwise
            # wait its read timeout on every call: while the breaker is open,
            # only its one probe per cooldown may talk to Redis (a closed
            # connection asks the breaker in connect_check_health()).
            if (self._sock is not None and breaker.is_open
                    and not getattr(self, "_probing", False) and not breaker.allow()):
                self.disconnect()
                raise CircuitOpen(f"{breaker.name} is down (circuit open); not tried")
            try:
                super().send_packed_command(command, check_health)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                breaker.failure(exc)
                raise

        def read_response(self, *args, **kwargs):
            try:
                reply = super().read_response(*args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                breaker.failure(exc)
                raise
            breaker.success()  # a probe on a pooled connection closes the breaker too
            return reply

    return GuardedConnection


#: Longest wait of one Redis call (connect, or a reply). A frozen Redis (the
#: kernel accepts, nobody answers) costs a request at most this, once per
#: REDIS_RETRY_AFTER (the breaker opens on a timeout too): heartbeats stay
#: within their 2 s promise.
REDIS_TIMEOUT = 1.0


def redis_options(breaker: Breaker | None, *,
                  read_timeout: float | None = REDIS_TIMEOUT) -> dict:
    """Keyword arguments for `redis.Redis.from_url`: short timeouts, one quick
    retry (a pooled connection left over from before a Redis restart), and the
    breaker. `read_timeout=None` for a pub/sub listener, which may wait forever."""
    options: dict = {
        "socket_connect_timeout": REDIS_TIMEOUT,
        "socket_timeout": read_timeout,
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 15,
    }
    if breaker is not None:
        options["connection_class"] = guarded_connection_class(breaker)
    return options
