"""An advisor's presence, as the GTR desk shows it: from whether any of their
sockets is connected (on any web process) and from their sessions."""

from __future__ import annotations

from enum import StrEnum


class Presence(StrEnum):
    IN_SESSION = "en_sesion"  # connected, holding a live session
    AVAILABLE = "disponible"  # connected, active within the idle time
    IDLE = "inactivo"  # connected, nothing done for the idle time
    OFFLINE = "desconectado"  # no socket on any web process


def presence(*, connected: bool, session_started: float | None, last_activity: float | None,
             now: float, idle_after: float) -> tuple[Presence, float | None]:
    """The state and since when (epoch seconds, None when unknown). A live
    session without a socket is OFFLINE: the advisor cannot be working on it
    (its heartbeats stop and it times out)."""
    if not connected:
        return Presence.OFFLINE, last_activity
    if session_started is not None:
        return Presence.IN_SESSION, session_started
    if last_activity is not None and now - last_activity < idle_after:
        return Presence.AVAILABLE, last_activity
    return Presence.IDLE, (last_activity + idle_after) if last_activity is not None else None
