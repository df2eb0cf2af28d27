"""Timeouts when the broker (Redis) is down, and catching up when it is back.

With Redis down no timeout task runs and beat cannot send the sweep, yet a
session whose deadline passes must still go back to the GTR queue. So every
web process ticks `BrokerFallback.tick()`: while Redis answers it does nothing
(the tasks and the sweep own timeouts); while Redis does not, the ONE process
holding the database lease (`Lease`, timed by the database clock, so it works
on MySQL and SQLite alike) runs the sweep from the database. The sweep times
sessions out with the same fenced transition as the task (`expire`), so a
session never times out twice whoever gets there.

Timeout tasks that could not be armed meanwhile are kept (`DeferredArms`) and
armed when Redis answers again; a worker whose broker connection dropped has
lost the countdown tasks it held, so it asks for `rearm_live` (tasks/,
core.sweep.Sweeper.rearm_live)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import IntegrityError

from core.breaker import Breaker
from core.db import Database, db_now
from core.models import ServiceLease
from core.sessions import ArmTimeout
from core.sweep import Sweeper

log = logging.getLogger(__name__)

FALLBACK_LEASE = "timeout-fallback"


class Lease:
    """A named lease in the database: at most one holder until it expires."""

    def __init__(self, db: Database, name: str, holder: str, ttl: float) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl = ttl

    def acquire(self) -> bool:
        """Take or renew the lease; False while another holder's is unexpired."""
        with self.db.transaction() as tx:
            done = tx.execute(
                update(ServiceLease)
                .where(ServiceLease.name == self.name,
                       or_(ServiceLease.holder == self.holder,
                           ServiceLease.expires_at <= db_now()))
                .values(holder=self.holder, expires_at=db_now() + self.ttl)
                .execution_options(synchronize_session=False)
            ).rowcount
            if done:
                return True
            if tx.get(ServiceLease, self.name) is not None:
                return False
        try:
            with self.db.transaction() as tx:
                tx.execute(insert(ServiceLease).values(name=self.name, holder=self.holder,
                                                       expires_at=db_now() + self.ttl))
            return True
        except IntegrityError:  # another process created it first
            return False

    def release(self) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                update(ServiceLease)
                .where(ServiceLease.name == self.name, ServiceLease.holder == self.holder)
                .values(expires_at=db_now())
                .execution_options(synchronize_session=False)
            )


class DeferredArms:
    """The `ArmTimeout` the web process gives SessionService: arms at once when
    the broker answers; otherwise (breaker open, or the send fails) keeps the
    request and `flush()` arms it, for the time left, once Redis is back. A
    start during an outage therefore costs no broker timeout, and its session
    still gets its task. Kept only in this process' memory: if the process dies
    first, the periodic sweep times the session out."""

    def __init__(self, arm: ArmTimeout, breaker: Breaker, *, max_kept: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.arm = arm
        self.breaker = breaker
        self.max_kept = max_kept
        self.clock = clock
        self._kept: dict[str, tuple[int, float]] = {}  # session -> (cliente, due, monotonic)
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return len(self._kept)

    def __call__(self, session_id: str, cliente_id: int, delay: float) -> None:
        if not self.breaker.blocked():
            try:
                self.arm(session_id, cliente_id, delay)
                return
            except Exception as exc:  # noqa: BLE001 - kombu raises many kinds
                self.breaker.failure(exc)
        self._keep(session_id, cliente_id, self.clock() + delay)

    def _keep(self, session_id: str, cliente_id: int, due: float) -> None:
        with self._lock:
            if len(self._kept) >= self.max_kept:  # the sweep covers the rest
                return
            self._kept[session_id] = (cliente_id, due)

    def flush(self) -> int:
        """Arm what was kept; stops (keeping the rest) at the first failure."""
        with self._lock:
            kept, self._kept = self._kept, {}
        armed = 0
        items = list(kept.items())
        for i, (session_id, (cliente_id, due)) in enumerate(items):
            try:
                self.arm(session_id, cliente_id, max(0.0, due - self.clock()))
                armed += 1
            except Exception as exc:  # noqa: BLE001
                self.breaker.failure(exc)
                for sid, (cid, d) in items[i:]:
                    self._keep(sid, cid, d)
                break
        if armed:
            log.info("armed %d timeout task(s) deferred while the broker was down", armed)
        return armed


class BrokerFallback:
    """One web process' side of the fallback; `tick()` every `tick` seconds."""

    def __init__(self, sweeper: Sweeper, lease: Lease, probe: Callable[[], object],
                 arms: DeferredArms | None = None) -> None:
        self.sweeper = sweeper
        self.lease = lease
        self.probe = probe
        self.arms = arms
        self.down_since: float | None = None
        self.holding = False
        self.expired = 0  # sessions this process timed out from the database

    def tick(self) -> str:
        """"up" (nothing to do), "standby" (another process holds the lease) or
        "swept" (this process ran the sweep from the database)."""
        try:
            self.probe()
            up = True
        except Exception:  # noqa: BLE001 - any failure to reach Redis counts as down
            up = False
        if up:
            if self.down_since is not None:
                log.warning("broker back after %.1f s: timeouts return to the tasks",
                            time.monotonic() - self.down_since)
                self.down_since = None
            if self.holding:
                self.holding = False
                self.lease.release()
            if self.arms is not None and self.arms.pending:
                self.arms.flush()
            return "up"
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("broker unreachable: timing sessions out from the database")
        if not self.lease.acquire():
            self.holding = False
            return "standby"
        self.holding = True
        report = self.sweeper.sweep()
        self.expired += report["expired"]
        return "swept"
