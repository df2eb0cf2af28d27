"""The worker drives the due-queue (core/timers.py): each worker sends
`albru.drain_timers` every TIMER_DRAIN_INTERVAL s from its consumer's timer.

Not beat's job: a worker that runs the timeouts also keeps them coming, with
or without beat (a deployment whose beat is down, a test stack without one),
and no drain piles up in the broker while no worker runs. Several workers
drain concurrently without harm: each claim is atomic."""

from __future__ import annotations

import logging

from celery import bootsteps

log = logging.getLogger(__name__)

DRAIN_TASK = "albru.drain_timers"
#: A drain that waited longer than this behind other tasks is dropped: later ones follow.
DRAIN_EXPIRES = 30.0


class DrainTimers(bootsteps.StartStopStep):
    """A consumer step: start() after each (re)connection, stop() before."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    #: seconds between two drains; tasks/worker.py sets it from the settings
    interval = 1.0

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.tref = None

    def start(self, parent) -> None:
        self.tref = parent.timer.call_repeatedly(self.interval, self.send, (parent,))

    def stop(self, parent) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    shutdown = stop

    @staticmethod
    def send(parent) -> None:
        """No retry: this runs in the worker's event loop, and the next tick
        tries again anyway."""
        try:
            parent.app.send_task(DRAIN_TASK, expires=DRAIN_EXPIRES, retry=False)
        except Exception as exc:  # noqa: BLE001 - broker down: the reconnect step handles it
            log.debug("drain not sent: %s", exc)
