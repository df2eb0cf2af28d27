"""The web process' edge of core.fallback: a background loop (a green thread
under gevent/eventlet) that ticks the broker fallback every
`Settings.fallback_tick` seconds. Every web process runs it; the database
lease lets one at a time time sessions out while Redis is down."""

from __future__ import annotations

import logging

from flask import Flask

from core.fallback import FALLBACK_LEASE, BrokerFallback, Lease

log = logging.getLogger(__name__)

_fallback: BrokerFallback | None = None


def start_fallback(app: Flask, sio, node_id: str) -> BrokerFallback:
    """Start the loop once per process; returns it (for /api/ws-stats-like reads)."""
    global _fallback
    if _fallback is not None:
        return _fallback
    comps = app.extensions["albru"]
    tick = comps.settings.fallback_tick
    # A holder that dies is replaced after its lease runs out (3 ticks, >= 2 s).
    lease = Lease(comps.db, FALLBACK_LEASE, node_id, ttl=max(3 * tick, 2.0))
    _fallback = BrokerFallback(comps.sessions, lease, comps.redis.ping, comps.arms)
    fallback = _fallback

    def loop() -> None:
        while True:
            sio.sleep(tick)
            try:
                fallback.tick()
            except Exception as exc:  # noqa: BLE001 - the database may be down too: next tick
                log.warning("broker fallback tick failed: %s", exc)

    sio.start_background_task(loop)
    return fallback
