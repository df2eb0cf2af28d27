"""The `revoke` strategy's task and arming (see bench.strategies)."""

from __future__ import annotations

import threading

from celery import shared_task
from flask import current_app

from app.queue import celery
from app.registry import services

#: control.revoke holds a broker connection from the app's pool while it waits
#: for a producer from the same pool: with many heartbeats at once every
#: connection is held and they all wait (we saw 60-s stalls). One at a time.
_revoking = threading.Lock()


def _key(session_id: str) -> str:
    return f"{services().settings.key_prefix}:bench:task:{session_id}"


@shared_task(name="bench.revocable_timeout", ignore_result=True)
def revocable_timeout(session_id: str, cliente_id: int) -> str:
    """Expire when due; never re-arm (a heartbeat sent a newer task)."""
    return services().sessions.expire(session_id).action


def arm_revocable(session_id: str, cliente_id: int, delay: float) -> None:
    """Send a new countdown task, revoke the one it replaces."""
    result = revocable_timeout.apply_async((session_id, cliente_id), countdown=delay)
    comps = services()
    old = comps.redis.getset(_key(session_id), result.id)
    comps.redis.expire(_key(session_id), int(comps.settings.session_timeout * 2) + 60)
    if old:
        with _revoking:
            celery(current_app).control.revoke(old)
