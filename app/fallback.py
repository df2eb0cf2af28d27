"""The web process' edge of core.fallback: a background loop (a green thread
under gevent/eventlet) that ticks the broker fallback every
`Settings.fallback_tick` seconds. Every web process runs it; the database
lease lets one at a time time sessions out while Redis is down."""

from __future__ import annotations

import logging

from flask import Flask

from app.registry import services
from core.fallback import FALLBACK_LEASE, BrokerFallback, Lease

log = logging.getLogger(__name__)

EXTENSION = "albru.fallback"


def start_fallback(app: Flask, sio, node_id: str) -> BrokerFallback:
    """Start the app's loop once; returns it."""
    if EXTENSION in app.extensions:
        return app.extensions[EXTENSION]
    comps = services(app)
    tick = comps.settings.fallback_tick
    # A holder that dies is replaced after its lease runs out (3 ticks, >= 2 s).
    lease = Lease(comps.db, FALLBACK_LEASE, node_id, ttl=max(3 * tick, 2.0))
    fallback = app.extensions[EXTENSION] = BrokerFallback(comps.sweeper, lease, comps.redis.ping,
                                                          comps.arms)

    def loop() -> None:
        while True:
            sio.sleep(tick)
            try:
                fallback.tick()
            except Exception as exc:  # noqa: BLE001 - the database may be down too: next tick
                log.warning("broker fallback tick failed: %s", exc)

    sio.start_background_task(loop)
    return fallback
