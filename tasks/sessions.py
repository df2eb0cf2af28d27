"""Session tasks: the per-session timeout, the due-queue's drain and the
periodic sweep.

A session's timeout waits in the due-queue (core/timers.py) until it is due
within TIMER_HORIZON s; then ONE countdown task is sent for it. Heartbeats
never revoke or resend it; when it wakes before the (moved) deadline it puts
the session back in the due-queue (or, if the time left is short, re-sends
itself). Revoking on every heartbeat made timeouts fire minutes late under
load (docs/performance.md)."""

from __future__ import annotations

import logging

from celery import shared_task

from app.registry import services
from domain.errors import Unavailable

log = logging.getLogger(__name__)

#: When MySQL does not answer, a timeout task tries again this much later
#: instead of failing (a failed task is acknowledged: the session's only task
#: would be gone, leaving its timeout to the next sweep).
DB_RETRY_SECONDS = 1.0
#: Workers that reconnect together re-arm the live sessions once (seconds).
REARM_DEDUP_SECONDS = 5


@shared_task(name="albru.session_timeout", ignore_result=True)
def session_timeout(session_id: str, cliente_id: int) -> str:
    comps = services()
    try:
        decision = comps.sessions.expire(session_id)
    except Unavailable as exc:
        log.warning("database unavailable, timeout of session %s retried in %.0f s: %s",
                    session_id, DB_RETRY_SECONDS, exc.message)
        _again(session_id, cliente_id, DB_RETRY_SECONDS)
        return "retry"
    if decision.action == "rearm":
        _again(session_id, cliente_id, decision.delay)
    else:  # expired, or already over: nothing left to time out
        try:
            comps.timers.done(session_id)
        except Exception as exc:  # noqa: BLE001 - a stale entry is dropped by the next drain
            log.debug("due-queue entry of session %s not removed: %s", session_id, exc)
    return decision.action


def _again(session_id: str, cliente_id: int, delay: float) -> None:
    """This session's timeout, `delay` s from now: through the due-queue, or
    straight to the broker when Redis (the queue) does not answer."""
    try:
        services().timers.arm(session_id, cliente_id, delay)
    except Exception as exc:  # noqa: BLE001 - the broker may still take it
        log.warning("due-queue unavailable, timeout of session %s sent directly: %s",
                    session_id, exc)
        session_timeout.apply_async((session_id, cliente_id), countdown=delay)


@shared_task(name="albru.drain_timers", ignore_result=True)
def drain_timers() -> dict:
    """Every TIMER_DRAIN_INTERVAL s (each worker sends it: tasks/timers.py):
    send the timeout tasks now due within the horizon
    (core.timers.TimerQueue.drain). The result, shown by Flower, carries
    `pending_timers`: the timeouts the due-queue holds."""
    comps = services()
    try:
        return comps.timers.drain(budget=comps.settings.timer_drain_interval).as_dict()
    except Unavailable as exc:
        log.warning("due-queue not drained, the database did not answer: %s", exc.message)
        return {"error": "database unavailable"}


@shared_task(name="albru.rearm_live", ignore_result=True)
def rearm_live() -> int:
    """Sent by a worker whose broker connection came back (tasks.reconnect): it
    dropped the countdown tasks it held (Celery clears them on connection loss;
    Redis hands them back only after the visibility timeout, one hour), so every
    live session gets a task again. Duplicates are harmless; a Redis key keeps
    workers that reconnect together from doing it once each."""
    comps = services()
    key = f"{comps.settings.key_prefix}:rearm-live"
    try:
        if not comps.redis.set(key, "1", nx=True, ex=REARM_DEDUP_SECONDS):
            return 0
    except Exception as exc:  # noqa: BLE001 - cannot tell: re-arm anyway (harmless)
        log.debug("re-arm dedup key not set: %s", exc)
    count = comps.sweeper.rearm_live()
    log.info("re-armed the timeout task of %d live session(s) after a broker reconnect", count)
    return count


@shared_task(name="albru.sweep", ignore_result=True)
def sweep() -> dict:
    """The periodic safety net (see core.sweep.Sweeper.sweep), plus keeping the
    event log within EVENT_LOG_MAX_LEN / EVENT_LOG_MAX_AGE."""
    comps = services()
    report = comps.sweeper.sweep(full=False)
    # Sessions due before the next sweep get a task (again): a worker killed
    # with kill -9 took theirs, and the sweep alone would be WORKER_INTERVAL late.
    report["timeouts_armed"] = comps.sweeper.arm_due(1.5 * comps.settings.worker_interval)
    report["events_trimmed"] = comps.events.trim(comps.settings.event_log_max_len,
                                                 comps.settings.event_log_max_age)
    return report


@shared_task(name="albru.push_extensions", ignore_result=True)
def push_extensions() -> int:
    """Every EXTEND_PUSH_INTERVAL s: the deadlines heartbeats moved, in one push.
    The watermark lives in Redis; losing it only repeats a window (harmless)."""
    comps = services()
    key = f"{comps.settings.key_prefix}:extended:since"
    interval = comps.settings.extend_push_interval
    try:
        raw = comps.redis.get(key)
        since = float(raw) if raw else None
    except Exception:  # noqa: BLE001 - Redis down: report the last window again
        since = None
    count, next_since = comps.sweeper.push_extensions(since, window=interval * 2)
    try:
        comps.redis.set(key, repr(next_since), ex=max(60, int(interval * 10)))
    except Exception as exc:  # noqa: BLE001
        log.warning("extension watermark not saved: %s", exc)
    return count
