"""The one registry of services, built once per app from its Settings.

Everything an edge (a request, a socket event, a CLI command, a task) needs is
here and is reached one way: `app.registry.services()`. Nothing in core/ or
domain/ reaches for it: services receive what they use when they are built."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from core.board import board
from core.breaker import Breaker
from core.cache import SessionCache, make_redis
from core.changes import Changes
from core.clientes import ClienteService
from core.counters import ClusterCounters, MeteredPublisher
from core.db import Database
from core.eventlog import EventLog
from core.fallback import DeferredArms
from core.publisher import Publisher
from core.ratelimit import RateLimiter
from core.reports import Reports
from core.sessions import ArmTimeout, SessionService
from core.settings import Settings
from core.sweep import Sweeper
from core.timers import TimerQueue
from core.users import UserService


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: redis.Redis
    breaker: Breaker  # the process' one view of "is Redis up" (core.breaker)
    publisher: MeteredPublisher
    metrics: ClusterCounters
    limiter: RateLimiter
    events: EventLog
    arms: DeferredArms  # timeout tasks waiting for the broker to come back
    timers: TimerQueue  # the due-queue of session timeouts (core.timers)
    sessions: SessionService
    sweeper: Sweeper
    reports: Reports
    clientes: ClienteService
    users: UserService

    @classmethod
    def build(cls, settings: Settings, arm_timeout: ArmTimeout) -> Services:
        """`arm_timeout` sends a session's timeout task: the queue belongs to the
        edge (app.queue), so core never imports Celery. Sessions arm through
        the due-queue (core.timers), which sends it when the timeout is close."""
        db = Database(settings.database_url, pool_size=settings.db_pool_size,
                      tls=settings.db_tls, tls_ca=settings.db_tls_ca)
        breaker = Breaker("redis", settings.redis_retry_after)
        client = make_redis(settings.redis_url, breaker)
        metrics = ClusterCounters(client, settings.key_prefix)
        publisher = MeteredPublisher(
            Publisher(settings.redis_url, settings.socketio_channel, breaker,
                      settings.deployment_id), metrics)
        cache = SessionCache(client, settings.key_prefix)
        changes = Changes(db, publisher)
        timers = TimerQueue(client, settings.key_prefix, db, arm_timeout,
                            settings.timer_horizon)
        arms = DeferredArms(timers.arm, breaker)
        sessions = SessionService(changes, cache, arms, settings.session_timeout)
        reports = Reports(db, cache)
        return cls(
            settings=settings,
            db=db,
            redis=client,
            breaker=breaker,
            publisher=publisher,
            metrics=metrics,
            limiter=RateLimiter(client, settings.key_prefix),
            events=EventLog(db, settings.deployment_id),
            arms=arms,
            timers=timers,
            sessions=sessions,
            sweeper=Sweeper(changes, sessions, reports, timers,
                            resync_interval=settings.cache_resync_interval),
            reports=reports,
            clientes=ClienteService(changes),
            users=UserService(db, release=sessions.release),
        )

    def board(self, viewer=None) -> dict:
        """The board snapshot (core.board) as far as `viewer` may see."""
        return board(self.db, viewer)
