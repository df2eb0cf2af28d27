"""Celery: app setup (`celery_init_app`) and thin tasks that call `core`.

Tasks take ids, never ORM objects, and carry JSON only. The task base class
runs every task inside the Flask app context, so tasks reach the same
components as the web process through `current_app`."""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun
from flask import Flask

from app.logs import task_context


def celery_init_app(app: Flask, settings) -> Celery:
    import celery_config

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(celery_config.from_settings(settings))
    celery_app.set_default()
    from tasks.reconnect import RearmAfterReconnect

    celery_app.steps["consumer"].add(RearmAfterReconnect)
    app.extensions["celery"] = celery_app
    import tasks.sessions  # noqa: F401 - registers the tasks

    return celery_app


_task_log = logging.getLogger("albru.task")
_started: dict[str, tuple[float, contextvars.Token]] = {}


@task_prerun.connect(weak=False)
def _task_context(task_id: str | None = None, task: Any = None, args: Any = None,
                  **_kw: Any) -> None:
    """Log lines written while a task runs carry its id and name (and the
    session it is about, for the timeout task)."""
    fields: dict[str, Any] = {"task_id": task_id, "task_name": getattr(task, "name", None)}
    if getattr(task, "name", None) == "albru.session_timeout" and args and len(args) == 2:
        fields["session_id"], fields["cliente_id"] = args
    _started[task_id or ""] = (time.perf_counter(), task_context.set(fields))


@task_postrun.connect(weak=False)
def _task_done(task_id: str | None = None, task: Any = None, retval: Any = None,
               state: str | None = None, **_kw: Any) -> None:
    started, token = _started.pop(task_id or "", (None, None))
    _task_log.info("task %s %s", getattr(task, "name", "?"), state,
                   extra={"state": state, "result": retval if isinstance(retval, str | dict)
                          else None,
                          "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                          if started is not None else None})
    if token is not None:
        task_context.reset(token)
