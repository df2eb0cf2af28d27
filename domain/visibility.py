"""Who may see (or touch) a client: the one copy of the rule.

GTR sees every client. An advisor sees
* their own clients (derived to them, in their hands, or handled by them),
* the shared pool (derivado with no advisor), which every advisor is offered,
* a pool client another advisor took, while that session lives: every advisor
  was pushed who took it (CLIENT_IN_GESTION to asesor-room), so a loser of the
  race may be told who won (409 client_locked with the holder);
* a client their own session returned to the GTR queue (timeout, release,
  `no_gestionado`), until GTR hands it on: they were pushed its return, and a
  late heartbeat or end must hear "no active session" (409), not "unknown".
Anything else answers 404, exactly as an unknown id does: nothing tells an
advisor that a client they may not see exists, in which state or with whom.
`core.visibility` translates this rule into SQL for lists; a test checks that
both agree on every combination."""

from __future__ import annotations

from dataclasses import dataclass

from domain.states import Estado


@dataclass(frozen=True)
class Viewer:
    id: int
    is_gtr: bool


@dataclass(frozen=True)
class ClientFacts:
    """What the rule needs to know about a client."""

    estado: str
    asesor_id: int | None
    #: the client's live session was taken from the pool
    pool_session: bool = False
    #: the advisor of the client's most recent session (None: never handled)
    last_holder: int | None = None


def in_pool(estado: str, asesor_id: int | None) -> bool:
    return estado == Estado.DERIVADO and asesor_id is None


def may_see(viewer: Viewer, client: ClientFacts) -> bool:
    if viewer.is_gtr:
        return True
    if client.asesor_id == viewer.id or in_pool(client.estado, client.asesor_id):
        return True
    if client.estado == Estado.EN_GESTION:
        return client.pool_session
    return returned_by(client.estado, client.asesor_id, client.last_holder, viewer.id)


def returned_by(estado: str, asesor_id: int | None, last_holder: int | None,
                viewer_id: int) -> bool:
    """Back in the GTR queue from `viewer_id`'s own session, not handed on since."""
    return estado == Estado.NO_GESTIONADO and asesor_id is None and last_holder == viewer_id
