"""The `celery -A tasks.worker` target: one Flask app, its Celery app."""

from __future__ import annotations

import os
import sys

from celery.signals import worker_process_init

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
