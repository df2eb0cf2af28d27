"""Delivery of pushes to Socket.IO rooms through the Redis message queue.

Web processes and Celery workers publish the same way, with a write-only
manager (as in flack): every Socket.IO server subscribed to the channel,
including the publisher's own, delivers to its connected clients. Pub/sub is
at-most-once, so the database stays the truth and clients can resync: a push
not sent because Redis is down is still in the event log, where every web
process' tail check (app.realtime) finds it within a second."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import socketio

from core.breaker import Breaker, redis_options
from domain.events import Push

log = logging.getLogger(__name__)

#: The field of every Socket.IO queue message that names the deployment which
#: sent it (Settings.deployment_id); app.realtime refuses any other.
STAMP = "albru_deployment"


class Stamped:
    """A python-socketio pub/sub manager whose messages carry `deployment`."""

    deployment: str = ""

    def _publish(self, data):
        if isinstance(data, dict):
            data = {**data, STAMP: self.deployment}
        return super()._publish(data)  # type: ignore[misc]


class _StampedWriter(Stamped, socketio.RedisManager):
    pass


class Publisher:
    def __init__(self, redis_url: str, channel: str, breaker: Breaker | None = None,
                 deployment: str = "") -> None:
        self.breaker = breaker
        self._manager = _StampedWriter(redis_url, channel=channel, write_only=True,
                                       redis_options=redis_options(breaker))
        self._manager.deployment = deployment

    def publish(self, pushes: Iterable[Push]) -> None:
        for push in pushes:
            if self.breaker is not None and self.breaker.blocked():
                log.debug("push %s not sent, Redis down (it is in the event log)",
                          push.event.value)
                continue
            try:
                self._manager.emit(push.event.value, push.payload, namespace="/", room=push.rooms)
            except Exception as exc:  # noqa: BLE001 - a lost push must not undo a commit
                log.warning("push %s lost: %s", push.event.value, exc)


    def emit_raw(self, event: str, payload: dict, rooms: list[str]) -> None:
        """An emit outside the event contract (the benchmark's floor)."""
        self._manager.emit(event, payload, namespace="/", room=rooms)
