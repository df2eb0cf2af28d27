"""Celery settings (lowercase, as Celery wants them), derived from the one
Settings object of the process (`app.queue.celery_init_app` applies them):
never a second read of the environment."""

from __future__ import annotations

from typing import Any

from core.settings import Settings


def from_settings(s: Settings) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "seguimiento-sweep": {
            "task": "albru.sweep",
            "schedule": s.worker_interval,
            # A sweep nobody ran in time is superseded by the next one.
            "options": {"expires": s.worker_interval},
        }
    }
    if s.extend_push_interval > 0:
        schedule["push-extensions"] = {
            "task": "albru.push_extensions",
            "schedule": s.extend_push_interval,
            "options": {"expires": s.extend_push_interval},
        }
    return {
        "broker_url": s.redis_url,
        "broker_connection_retry_on_startup": True,
        # A Redis outage must never make a worker give up (the default: 100
        # attempts, then exit); tasks.reconnect also keeps the wait short.
        "broker_connection_max_retries": None,
        "worker_consumer": "tasks.reconnect:Consumer",
        # A countdown task is held unacknowledged until it runs; it must not be
        # handed to another worker before then (duplicates are harmless anyway).
        # No timeout waits for this: a worker holds only those due within
        # TIMER_HORIZON, and the due-queue re-sends a lost one (core/timers.py).
        "broker_transport_options": {"visibility_timeout": max(3600, int(s.session_timeout * 2))},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # Graceful shutdown (SIGTERM = warm shutdown): running tasks finish; the
        # countdown timeout tasks a worker holds (unacknowledged) go back to Redis
        # and another worker runs them. Acknowledge after the run, so a task cut
        # short by a dying worker is delivered again (the tasks are idempotent)...
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # ...and when the broker connection is lost, stop the running tasks: their
        # messages are redelivered anyway, so letting them go on would run them twice.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "result_backend": None,
        "worker_send_task_events": True,  # Flower sees tasks
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "timezone": "UTC",
        "beat_schedule": schedule,
    }

