"""Celery tasks: thin, they take ids (never ORM objects), carry JSON only and
call core through `app.registry.services()` (app.queue runs every task in the
Flask app context). The Celery app itself is built by app.queue; this package
depends on app, never the other way round."""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

from celery.signals import task_postrun, task_prerun

from app.logs import task_context

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
