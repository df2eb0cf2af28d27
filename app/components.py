"""The process-wide parts every edge uses, built once per process from Settings."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from app.metrics import ClusterCounters, MeteredPublisher
from app.ratelimit import RateLimiter
from app.settings import Settings
from core.breaker import Breaker
from core.cache import SessionCache, make_redis
from core.clientes import ClienteService
from core.db import Database
from core.eventlog import EventLog
from core.fallback import DeferredArms
from core.publisher import Publisher
from core.sessions import ArmTimeout, SessionService


@dataclass
class Components:
    settings: Settings
    db: Database
    redis: redis.Redis
    publisher: MeteredPublisher
    sessions: SessionService
    clientes: ClienteService
    events: EventLog
    metrics: ClusterCounters
    limiter: RateLimiter
    breaker: Breaker  # the process' one view of "is Redis up" (core.breaker)
    arms: DeferredArms  # timeout tasks waiting for the broker to come back

    @classmethod
    def build(cls, settings: Settings, arm_timeout: ArmTimeout) -> Components:
        db = Database(settings.database_url, pool_size=settings.db_pool_size)
        breaker = Breaker("redis", settings.redis_retry_after)
        client = make_redis(settings.redis_url, breaker)
        metrics = ClusterCounters(client, settings.key_prefix)
        publisher = MeteredPublisher(
            Publisher(settings.redis_url, settings.socketio_channel, breaker), metrics)
        cache = SessionCache(client, settings.key_prefix)
        arms = DeferredArms(arm_timeout, breaker)
        return cls(
            settings=settings,
            db=db,
            redis=client,
            publisher=publisher,
            sessions=SessionService(db, cache, publisher, arms, settings.session_timeout),
            clientes=ClienteService(db, publisher),
            events=EventLog(db),
            metrics=metrics,
            limiter=RateLimiter(client, settings.key_prefix),
            breaker=breaker,
            arms=arms,
        )
