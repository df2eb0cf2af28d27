"""The `celery -A tasks.worker` target: one Flask app, its Celery app."""

from __future__ import annotations

import gc
import os
import sys

from celery.signals import worker_before_create_process, worker_process_init

import tasks.sessions  # noqa: F401 - registers the tasks
from app import create_app, queue
from app.registry import services
from core.settings import check_flower_auth
from tasks.reconnect import RearmAfterReconnect
from tasks.timers import DrainTimers

flask_app = create_app(role="worker")  # also reads .env into the environment
if "flower" in sys.argv[1:]:
    check_flower_auth(os.environ, sys.argv)  # a production Flower must ask for a login
celery_app = queue.celery(flask_app)
celery_app.steps["consumer"].add(RearmAfterReconnect)
_services = services(flask_app)
_settings = _services.settings
DrainTimers.interval = _settings.timer_drain_interval
celery_app.steps["consumer"].add(DrainTimers)
if _settings.fault_transition_delay:  # APP_ENV=test only (checked by Settings)
    from app.faults import install_transition_delay

    install_transition_delay(_services.db.engine, _settings.fault_transition_delay)


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    """A forked pool process must not share the parent's database sockets."""
    _services.db.engine.dispose(close=False)


@worker_before_create_process.connect
def _freeze_before_fork(**_kwargs) -> None:
    """Move everything imported so far out of the collector's reach before a
    pool process is forked: the children then never write to those objects'
    pages (a collection touches every tracked object), so the pages stay
    shared with the parent instead of being copied into each child."""
    gc.freeze()
