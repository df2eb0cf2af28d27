"""The due-queue of session timeouts (issue 19).

A countdown task held by a Celery worker costs ~9 KB of its memory and one
broker message until it wakes, even when its session ended long before. So a
session's timeout lives here instead until it is close: ONE Redis sorted set
per deployment (`{KEY_PREFIX}:timers`), member = session id, score = when the
drainer must look at it again (the Redis server's clock, `TIME`, so no worker
or web clock is involved). `albru.drain_timers` (beat, every
TIMER_DRAIN_INTERVAL s) claims what is due and, for each session, asks the
database: ended → dropped; live with its deadline beyond the horizon → looked
at again `horizon` s before it; due within the horizon → its Celery timeout
task is sent with a countdown to the deadline. So the broker and the worker
hold only the timeouts due within TIMER_HORIZON s, whatever the number of
live or ended sessions.

A sent task leaves its entry in the set with a lease (score = its wake-up +
`lease`): the task removes it when the session ended, or moves it when a
heartbeat moved the deadline. A task that died with a worker (kill -9) is
therefore sent again `lease` s after it should have run, without waiting for
Redis' visibility timeout (an hour). The database stays the truth: the task
decides on the database clock and never expires early; if Redis loses the
set, the sweep (core.sweep) puts back every live session due soon."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from sqlalchemy import select

from core.db import Database, db_now
from core.models import GestionSession
from domain import lease as lease_rules
from domain.errors import Unavailable
from domain.states import SessionStatus

log = logging.getLogger(__name__)

#: Sends one session's timeout task: (session_id, cliente_id, countdown seconds).
SendTimeout = Callable[[str, int, float], None]

ACTIVE = SessionStatus.ACTIVE.value

#: Seconds after a sent task's wake-up before the drainer assumes it was lost
#: (its worker died) and sends it again, plus how late it already is (so a
#: backlog is not multiplied by copies). A duplicate is harmless.
SENT_LEASE = 2.0
#: Seconds a drainer owns what it claimed; if it dies, the entries come back.
CLAIM_LEASE = 10.0
#: Sessions claimed per database query (a drain loops over batches for up to
#: its budget, so one drain never holds a pool process for long).
CLAIM_BATCH = 500

# Schedule one session: score = now + delay - horizon (look at it later), or,
# when due within the horizon, now + delay + lease (a task is being sent; the
# caller sends it when told). ARGV: member, delay, horizon, lease, only_new.
# Returns {send (0/1), added (0/1)}. Redis 7 replicates scripts by effect, so
# reading TIME before writing is allowed.
_SCHEDULE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local delay, horizon, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local send = delay <= horizon
local score
if send then score = now + delay + lease else score = now + delay - horizon end
local added
if ARGV[5] == '1' then
  added = redis.call('ZADD', KEYS[1], 'NX', score, ARGV[1])
  if added == 0 then send = false end
else
  added = redis.call('ZADD', KEYS[1], score, ARGV[1])
end
return {send and 1 or 0, added}
"""

# Claim up to ARGV[1] entries whose time has come; they are pushed ARGV[2] s
# ahead so that a concurrent drainer does not take them too. Returns
# {now as a string, member, ...}.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local later = now + tonumber(ARGV[2])
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], later, m) end
table.insert(due, 1, string.format('%.6f', now))
return due
"""


@dataclass
class DrainReport:
    """What one drain did; its task's result, so Flower shows it."""

    claimed: int = 0
    sent: int = 0
    dropped: int = 0
    deferred: int = 0
    pending_timers: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class TimerQueue:
    """The due-queue. `send` is injected by the edge that owns the broker
    (app.queue), so core never imports Celery."""

    def __init__(self, client: redis.Redis, prefix: str, db: Database, send: SendTimeout,
                 horizon: float) -> None:
        self.redis = client
        self.db = db
        self.send = send
        self.horizon = float(horizon)
        self.key = f"{prefix}:timers"
        self._schedule = client.register_script(_SCHEDULE)
        self._claim = client.register_script(_CLAIM)

    # ---------------------------------------------------------- arming

    def arm(self, session_id: str, cliente_id: int, delay: float) -> None:
        """The ArmTimeout of SessionService: the session's timeout, `delay` s
        from now. Raises when Redis does not answer (DeferredArms keeps it)."""
        self.arm_many([(session_id, cliente_id, delay)])

    def arm_many(self, items: Iterable[tuple[str, int, float]], *,
                 only_new: bool = False) -> int:
        """Arm many (session_id, cliente_id, seconds left) in one round trip per
        batch; with `only_new`, only those the set does not hold (the sweep's
        safety net: Redis lost the set). Returns how many were new."""
        added = 0
        batch = list(items)
        for i in range(0, len(batch), CLAIM_BATCH):
            chunk = batch[i:i + CLAIM_BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for sid, _cid, delay in chunk:
                self._schedule(keys=[self.key], args=[
                    sid, repr(max(0.0, delay)), repr(self.horizon), repr(SENT_LEASE),
                    "1" if only_new else "0"], client=pipe)
            for (sid, cid, delay), (send, new) in zip(chunk, pipe.execute(), strict=True):
                added += int(new)
                if send:
                    self.send(sid, cid, max(0.0, delay))
        return added

    def done(self, session_id: str) -> None:
        """The session ended (or is unknown): nothing left to time out."""
        self.redis.zrem(self.key, session_id)

    def pending(self) -> int:
        """Sessions whose timeout the set holds (Flower sees it in every drain's result)."""
        return int(self.redis.zcard(self.key))

    # --------------------------------------------------------- draining

    def drain(self, budget: float = 1.0) -> DrainReport:
        """Claim what is due, ask the database about it in one query per
        batch, and send, reschedule or drop each. Runs for at most about
        `budget` s; what is left waits for the next drain."""
        report = DrainReport()
        started = time.monotonic()
        while True:
            raw = self._claim(keys=[self.key], args=[CLAIM_BATCH, repr(CLAIM_LEASE)])
            redis_now, members = float(raw[0]), [_text(m) for m in raw[1:]]
            if members:
                report.claimed += len(members)
                self._resolve(members, redis_now, report)
            if len(members) < CLAIM_BATCH or time.monotonic() - started > budget:
                break
        report.pending_timers = self.pending()
        return report

    def _resolve(self, members: list[str], redis_now: float, report: DrainReport) -> None:
        try:
            with self.db.transaction() as tx:
                now = float(tx.execute(select(db_now())).scalar_one())
                rows = {sid: (cid, status, deadline) for sid, cid, status, deadline in tx.execute(
                    select(GestionSession.id, GestionSession.cliente_id, GestionSession.status,
                           GestionSession.deadline_at).where(GestionSession.id.in_(members)))}
        except Unavailable:
            # the database is down: look at them again in a second, not CLAIM_LEASE
            self.redis.zadd(self.key, dict.fromkeys(members, redis_now + 1.0), xx=True)
            raise
        pipe = self.redis.pipeline(transaction=False)
        to_send: list[tuple[str, int, float]] = []
        for sid in members:
            cid, status, deadline = rows.get(sid, (None, None, None))
            decision = lease_rules.decide_timeout(active=status == ACTIVE,
                                                  deadline=deadline, now=now)
            if decision.action == "noop":
                pipe.zrem(self.key, sid)
                report.dropped += 1
                continue
            delay = decision.delay if decision.action == "rearm" else 0.0
            if delay > self.horizon:  # a heartbeat moved it: look again later
                pipe.zadd(self.key, {sid: redis_now + delay - self.horizon}, xx=True)
                report.deferred += 1
            else:
                # Overdue means its task was lost, or is still queued behind a
                # backlog: the lease grows with the lateness, so a busy worker
                # gets a few copies of it (2, 4, 8 ... s late), not one every 2 s.
                overdue = max(0.0, now - float(deadline))
                pipe.zadd(self.key, {sid: redis_now + delay + SENT_LEASE + overdue}, xx=True)
                to_send.append((sid, int(cid), delay))
        pipe.execute()
        for sid, cid, delay in to_send:
            self.send(sid, cid, delay)
            report.sent += 1


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
