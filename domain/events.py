"""Pushed events: their names, who receives them, and the one envelope they share.

Names and rooms are the seed's wire contract (gtr-room, asesor-room, asesor-{id}).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

#: The version of the event contract in docs/events.md (bump on any change).
EVENTS_VERSION = "2"

GTR_ROOM = "gtr-room"
ASESOR_ROOM = "asesor-room"


def asesor_room(asesor_id: int) -> str:
    return f"asesor-{asesor_id}"


#: Server → client events that are not state changes (no seq, not logged).
CONTROL_EVENTS = {
    "resync": "after a connect with auth.last_seq: {status, from_seq, last_seq, replayed}",
    "auth_error": ("the token expired (`token_expired`) or was revoked (`invalid_token`: "
                   "logout, password change, deactivation; noticed within ~3 s) during the "
                   "connection: {error, message}; then disconnect"),
}


class Event(StrEnum):
    CLIENT_CREATED = "CLIENT_CREATED"  # GTR added clients (one or an import)
    CLIENT_DERIVED = "CLIENT_DERIVED"  # GTR handed a client to an advisor or the pool
    CLIENT_IN_GESTION = "CLIENT_IN_GESTION"  # an advisor opened it
    CLIENT_COMPLETED = "CLIENT_COMPLETED"  # the advisor ended it with a resultado
    CLIENT_RETURNED_TO_GTR = "CLIENT_RETURNED_TO_GTR"  # timeout, force-release or orphan
    SESSIONS_EXTENDED = "SESSIONS_EXTENDED"  # batched new deadlines after heartbeats (GTR)


def rooms_for(event: Event, *, asesor_id: int | None, pool: bool = False) -> list[str]:
    """GTR sees everything; an advisor sees their own clients; the pool is seen
    by all advisors (a pool client being taken must vanish from every screen)."""
    rooms = [GTR_ROOM]
    if event is Event.SESSIONS_EXTENDED:
        return rooms  # the advisor has the new deadline in its heartbeat's answer
    if asesor_id is not None and event is not Event.CLIENT_CREATED:
        rooms.append(asesor_room(asesor_id))
    if pool:
        rooms.append(ASESOR_ROOM)
    return rooms


def envelope(
    event: Event,
    *,
    cliente_id: int | None,
    estado: str | None,
    asesor_id: int | None,
    ts: float,
    session_id: str | None = None,
    deadline: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The single payload shape of every push (times are epoch seconds). `seq`
    is given by the event log when the change commits (see ENVELOPE)."""
    body: dict[str, Any] = {
        "seq": None,
        "type": event.value,
        "cliente_id": cliente_id,
        "session_id": session_id,
        "estado": estado,
        "asesor_id": asesor_id,
        "deadline": deadline,
        "ts": ts,
    }
    body.update(extra)
    return body


#: The envelope every push carries, documented field by field (docs/events.md is
#: checked against this in the tests, so the two cannot drift apart).
ENVELOPE: dict[str, str] = {
    "seq": "position in the event log: increases by one per event, server-wide",
    "type": "the event name (also the Socket.IO event name)",
    "cliente_id": "the client concerned (null for a multi-client import)",
    "session_id": "the handling session concerned, if any",
    "estado": "the client's state after the change",
    "asesor_id": "the client's advisor after the change (null: GTR queue or pool)",
    "deadline": "the session's deadline, epoch seconds (null when none is running)",
    "ts": "when the change was committed, epoch seconds, database clock",
}


def user_rooms(is_gtr: bool, user_id: int) -> list[str]:
    """The rooms a user is put in at connect; nobody else may enter them."""
    return [GTR_ROOM] if is_gtr else [ASESOR_ROOM, asesor_room(user_id)]


def visible(event_rooms: list[str], rooms: list[str]) -> bool:
    """Would a user in `rooms` have received an event sent to `event_rooms`?"""
    return not set(event_rooms).isdisjoint(rooms)


def resume_plan(last_seen: int | None, first_kept: int | None, last: int) -> str:
    """How to bring a reconnecting client up to date.

    "replay": send the events after `last_seen` (possibly none); "snapshot": the
    log no longer has them (or the client's number comes from another log), so
    the client must reload the board and apply events after the board's seq."""
    if last_seen is None or last_seen < 0 or last_seen > last:
        return "snapshot"
    if last_seen == last:
        return "replay"
    if first_kept is None or last_seen < first_kept - 1:
        return "snapshot"
    return "replay"


class Push:
    """One event for delivery: its name, payload and the rooms that get it."""

    __slots__ = ("event", "payload", "rooms")

    def __init__(self, event: Event, payload: dict[str, Any], rooms: list[str]) -> None:
        self.event = event
        self.payload = payload
        self.rooms = rooms

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Push({self.event.value}, rooms={self.rooms})"
