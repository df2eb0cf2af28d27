"""Session tasks: the per-session timeout and the periodic sweep.

ONE pending timeout task per session: heartbeats never revoke or resend it;
when it wakes before the (moved) deadline it re-arms itself for the time
left. Revoking on every heartbeat made timeouts fire minutes late under load
(see README, "Timeouts")."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

log = logging.getLogger(__name__)


def _sessions():
    return current_app.extensions["albru"].sessions


@shared_task(name="albru.session_timeout", ignore_result=True)
def session_timeout(session_id: str, cliente_id: int) -> str:
    decision = _sessions().expire(session_id)
    if decision.action == "rearm":
        session_timeout.apply_async((session_id, cliente_id), countdown=decision.delay)
    return decision.action


@shared_task(name="albru.sweep", ignore_result=True)
def sweep() -> dict:
    """The periodic safety net (see SessionService.sweep), plus keeping the
    event log within EVENT_LOG_MAX_LEN / EVENT_LOG_MAX_AGE."""
    comps = current_app.extensions["albru"]
    report = comps.sessions.sweep()
    # Sessions due before the next sweep get a task (again): a worker killed
    # with kill -9 took theirs, and the sweep alone would be WORKER_INTERVAL late.
    report["timeouts_armed"] = comps.sessions.arm_due(1.5 * comps.settings.worker_interval)
    report["events_trimmed"] = comps.events.trim(comps.settings.event_log_max_len,
                                                 comps.settings.event_log_max_age)
    return report


@shared_task(name="albru.push_extensions", ignore_result=True)
def push_extensions() -> int:
    """Every EXTEND_PUSH_INTERVAL s: the deadlines heartbeats moved, in one push.
    The watermark lives in Redis; losing it only repeats a window (harmless)."""
    comps = current_app.extensions["albru"]
    key = f"{comps.settings.key_prefix}:extended:since"
    interval = comps.settings.extend_push_interval
    try:
        raw = comps.redis.get(key)
        since = float(raw) if raw else None
    except Exception:  # noqa: BLE001 - Redis down: report the last window again
        since = None
    count, next_since = comps.sessions.push_extensions(since, window=interval * 2)
    try:
        comps.redis.set(key, repr(next_since), ex=max(60, int(interval * 10)))
    except Exception as exc:  # noqa: BLE001
        log.warning("extension watermark not saved: %s", exc)
    return count


def arm_timeout(session_id: str, cliente_id: int, delay: float) -> None:
    """Schedule the session's timeout task (called after the start commits)."""
    session_timeout.apply_async((session_id, cliente_id), countdown=delay)
