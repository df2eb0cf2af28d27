"""The `celery -A tasks.worker` target: one Flask app, its Celery app."""

from __future__ import annotations

import os
import sys

from celery.signals import worker_process_init

from app import create_app
from app.settings import check_flower_auth

flask_app = create_app(role="worker")  # also reads .env into the environment
if "flower" in sys.argv[1:]:
    check_flower_auth(os.environ, sys.argv)  # a production Flower must ask for a login
celery_app = flask_app.extensions["celery"]
_settings = flask_app.config["ALBRU_SETTINGS"]
if _settings.fault_transition_delay:  # APP_ENV=test only (checked by Settings)
    from app.faults import install_transition_delay

    install_transition_delay(flask_app.extensions["albru"].db.engine,
                             _settings.fault_transition_delay)


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    """A forked pool process must not share the parent's database sockets."""
    flask_app.extensions["albru"].db.engine.dispose(close=False)
