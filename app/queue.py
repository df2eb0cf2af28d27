"""The Celery side of the app, as in Flask's examples/celery: the Celery app is
built from the same Settings (celery_config.from_settings) and every task runs
inside the Flask app context, so tasks reach the services like a request does
(`app.registry.services()`).

The web process never imports the task modules: it sends tasks by name. Only
the worker (tasks/worker.py) imports them. So `app` does not depend on `tasks`."""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask

import celery_config
from core.sessions import ArmTimeout
from core.settings import Settings

EXTENSION = "celery"
TIMEOUT_TASK = "albru.session_timeout"
#: A send that fails (broker down) is tried once more at once, then given up:
#: the caller (core.fallback.DeferredArms) keeps it for later. Celery's default
#: (3 retries, 0.2 s apart) cost every start 0.6 s with Redis down.
ARM_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
#: Node names a ping goes to (kombu's "pcre" matcher is re.match): all but beat's.
NOT_BEAT = r"(?!celerybeat@)"


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(celery_config.from_settings(settings))
    celery_app.set_default()
    app.extensions[EXTENSION] = celery_app
    return celery_app


def celery(app: Flask) -> Celery:
    return app.extensions[EXTENSION]


def timeout_arming(celery_app: Celery) -> ArmTimeout:
    """How a session's countdown timeout task is sent, by name, so the sender
    needs no task code. Sessions do not call it directly: the due-queue
    (core.timers) does, once the timeout is due within TIMER_HORIZON s."""

    def arm(session_id: str, cliente_id: int, delay: float) -> None:
        celery_app.send_task(TIMEOUT_TASK, args=(session_id, cliente_id), countdown=delay,
                             retry_policy=ARM_RETRY)

    return arm


#: Bounds of the worker check's own broker connection (seconds).
PING_SOCKET_TIMEOUT = 2.0


def ping_workers(celery_app: Celery, timeout: float = 1.0) -> list[str]:
    """The names of the workers that answer a ping. Beat answers pings too
    (--enable-remote-control, for its own health check) but runs no task: the
    pattern keeps it from answering, so the first reply is a worker's.

    The ping uses a connection and a producer of its own, never the app's
    broker pool: `control.ping()` holds a pooled connection while it waits for
    a producer from the same pool, so ten at once deadlocked the process (and
    every start after them). Its socket is bounded too."""
    options = dict(celery_app.conf.broker_transport_options or {})
    options.update(socket_timeout=PING_SOCKET_TIMEOUT,
                   socket_connect_timeout=PING_SOCKET_TIMEOUT)
    with celery_app.connection_for_write(transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, timeout=PING_SOCKET_TIMEOUT)
        mailbox = celery_app.control.mailbox(conn)
        mailbox._producer_pool = None  # a Producer on this connection, not the pool's
        replies = mailbox._broadcast("ping", {}, None, reply=True, timeout=timeout, limit=1,
                                     pattern=NOT_BEAT, matcher="pcre") or []
    return sorted(name for reply in replies for name in reply)
