"""Lease arithmetic: deadlines, seconds left and when a timeout task must act.

All instants are epoch seconds read from ONE clock (the database's), so a
worker whose own clock runs ahead can never end a live session early.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A re-armed timeout task is scheduled this much after the deadline, so that
#: it lands after it even with timer jitter; the database decides anyway.
REARM_MARGIN = 0.02


def seconds_left(deadline: float, now: float) -> float:
    return max(0.0, deadline - now)


def is_expired(deadline: float, now: float) -> bool:
    """A session whose deadline has come is dead: no heartbeat revives it."""
    return now >= deadline


@dataclass(frozen=True)
class TimeoutDecision:
    """What a timeout task does when it wakes up."""

    action: str  # "expire" | "rearm" | "noop"
    delay: float = 0.0  # for "rearm": seconds until the deadline (+ margin)


def decide_timeout(*, active: bool, deadline: float | None, now: float) -> TimeoutDecision:
    """The rule a timeout task follows. It is safe to run it twice or late:
    an ended session is a no-op, a live one re-arms for the time it has left."""
    if not active or deadline is None:
        return TimeoutDecision("noop")
    if is_expired(deadline, now):
        return TimeoutDecision("expire")
    return TimeoutDecision("rearm", deadline - now + REARM_MARGIN)
