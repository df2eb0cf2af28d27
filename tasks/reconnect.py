"""The worker side of a broker outage.

* Reconnect quickly: Celery waits 2, 4, 6 ... up to 30 s between attempts
  (kombu's defaults), so a worker could come back half a minute after Redis;
  here it tries every `RECONNECT_MAX` seconds at most, forever
  (`broker_connection_max_retries = None` in celery_config: the default of 100
  attempts makes every worker exit during a long outage).
* Survive the loss: Celery 5.7 closes the lost connection after
  `Connection.collect()` has already detached its transport, and kombu's Redis
  channel then fails to restore the unacknowledged messages with
  `AttributeError: 'NoneType' object has no attribute 'hostname'`, which Celery
  reports as "Unrecoverable error" and the worker EXITS (seen in
  tests/test_outages.py). That close is made harmless here.
* After reconnecting, ask for `albru.rearm_live`: on losing the connection the
  worker dropped every countdown timeout task it held (they stay unacknowledged
  in Redis until the one-hour visibility timeout)."""

from __future__ import annotations

import functools
import logging

from celery import bootsteps
from celery.worker.consumer import Consumer as CeleryConsumer

log = logging.getLogger(__name__)

RECONNECT_MAX = 2.0  # seconds between two connection attempts, at most


class Consumer(CeleryConsumer):
    """Celery's consumer, with a short, capped wait between connection attempts."""

    def on_connection_error_after_connected(self, exc):
        connection = self.connection
        if connection is not None:
            close = connection.close

            def close_ignoring_detached_transport() -> None:
                try:
                    close()
                except AttributeError as err:  # the bug described above
                    log.warning("ignored while closing the lost broker connection: %r", err)

            connection.close = close_ignoring_detached_transport
        return super().on_connection_error_after_connected(exc)

    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(
            conn.ensure_connection, interval_start=0.5, interval_step=0.5,
            interval_max=RECONNECT_MAX)
        return super().ensure_connected(conn)


class RearmAfterReconnect(bootsteps.StartStopStep):
    """Runs each time the consumer (re)starts; every start after the first one
    follows a lost broker connection."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.starts = 0

    def start(self, parent) -> None:
        self.starts += 1
        if self.starts == 1:
            return
        log.warning("broker connection back: asking to re-arm the live sessions' timeouts")
        try:
            parent.app.send_task("albru.rearm_live")
        except Exception as exc:  # noqa: BLE001 - the sweep is still the safety net
            log.warning("could not ask for the re-arm: %s", exc)
