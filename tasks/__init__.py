"""Celery: app setup (`celery_init_app`) and thin tasks that call `core`.

Tasks take ids, never ORM objects, and carry JSON only. The task base class
runs every task inside the Flask app context, so tasks reach the same
components as the web process through `current_app`."""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask, settings) -> Celery:
    import celery_config

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(celery_config.from_settings(settings))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    import tasks.sessions  # noqa: F401 - registers the tasks

    return celery_app
