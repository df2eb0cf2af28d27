"""Pushed events: their names, who receives them, and the one envelope they share.

Names and rooms are the seed's wire contract (gtr-room, asesor-room, asesor-{id}).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

GTR_ROOM = "gtr-room"
ASESOR_ROOM = "asesor-room"


def asesor_room(asesor_id: int) -> str:
    return f"asesor-{asesor_id}"


class Event(StrEnum):
    CLIENT_CREATED = "CLIENT_CREATED"  # GTR added clients (one or an import)
    CLIENT_DERIVED = "CLIENT_DERIVED"  # GTR handed a client to an advisor or the pool
    CLIENT_IN_GESTION = "CLIENT_IN_GESTION"  # an advisor opened it
    CLIENT_COMPLETED = "CLIENT_COMPLETED"  # the advisor ended it with a resultado
    CLIENT_RETURNED_TO_GTR = "CLIENT_RETURNED_TO_GTR"  # timeout, force-release or orphan


def rooms_for(event: Event, *, asesor_id: int | None, pool: bool = False) -> list[str]:
    """GTR sees everything; an advisor sees their own clients; the pool is seen
    by all advisors (a pool client being taken must vanish from every screen)."""
    rooms = [GTR_ROOM]
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
    """The single payload shape of every push (times are epoch seconds)."""
    body: dict[str, Any] = {
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


class Push:
    """One event for delivery: its name, payload and the rooms that get it."""

    __slots__ = ("event", "payload", "rooms")

    def __init__(self, event: Event, payload: dict[str, Any], rooms: list[str]) -> None:
        self.event = event
        self.payload = payload
        self.rooms = rooms

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Push({self.event.value}, rooms={self.rooms})"
