"""Client states and the transitions between them (the wire values of the seed)."""

from __future__ import annotations

from enum import StrEnum


class Estado(StrEnum):
    """A client's state. The values are the wire contract: never rename them."""

    NUEVO = "nuevo"  # created, not yet handed to anyone
    DERIVADO = "derivado"  # handed to an advisor (or to the shared pool)
    EN_GESTION = "en_gestion"  # an advisor holds it in a live session
    GESTIONADO = "gestionado"  # handled
    NO_GESTIONADO = "no_gestionado"  # back in the GTR queue (not handled or timed out)
    CERRADO = "cerrado"  # closed for good


class Resultado(StrEnum):
    """How an advisor may end a session: each becomes the client's new state."""

    GESTIONADO = "gestionado"
    NO_GESTIONADO = "no_gestionado"
    CERRADO = "cerrado"


class SessionStatus(StrEnum):
    """A handling session's life: one active, then exactly one final status."""

    ACTIVE = "active"
    COMPLETED = "completed"  # ended by its advisor with a resultado
    TIMED_OUT = "timed_out"  # no heartbeat before the deadline
    RELEASED = "released"  # force-released by GTR or by the orphan sweep


class Role(StrEnum):
    ASESOR = "asesor"
    GTR = "gtr"


#: States from which GTR may hand a client to an advisor. A client in gestión
#: must be released first; `gestionado` and `cerrado` are final.
DERIVABLE = frozenset({Estado.NUEVO, Estado.DERIVADO, Estado.NO_GESTIONADO})


def can_derive(estado: str) -> bool:
    return estado in DERIVABLE


def can_start(estado: str, asignado: int | None, asesor_id: int) -> bool:
    """A derived client may be opened by its advisor, or by anyone if it is in the pool."""
    return estado == Estado.DERIVADO and (asignado is None or asignado == asesor_id)


def estado_after_end(resultado: Resultado) -> Estado:
    return Estado(resultado.value)


def asesor_after_end(resultado: Resultado, asesor_id: int) -> int | None:
    """`no_gestionado` returns the client to the GTR queue, so nobody keeps it;
    otherwise the advisor who handled it stays recorded on the client."""
    return None if resultado is Resultado.NO_GESTIONADO else asesor_id
