"""What must hold after any fault, read from the database (the truth): each
session has one start audit row, each ended session exactly one terminal
transition (one audit row, one event), none is active past its deadline + a
bound or timed out before it, each client has at most one active session and
is en_gestion iff it has one, and the event log has no holes.

Shared by the fault tests (tests/test_faults.py) and the soak (bench/soak.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from core.db import Database, db_now
from core.models import AuditEntry, Cliente, EventCounter, EventEntry, GestionSession

#: Audit actions that end a session (orphan_release ends a client lock without one).
TERMINAL_ACTIONS = ("end", "timeout", "released")
#: Events that report a session's end.
TERMINAL_EVENTS = ("CLIENT_COMPLETED", "CLIENT_RETURNED_TO_GTR")
STATUS_OF_ACTION = {"end": "completed", "timeout": "timed_out", "released": "released"}


@dataclass
class Report:
    sessions: int = 0
    active: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    #: ended sessions with no terminal audit row or event (a transition lost)
    lost: list[str] = field(default_factory=list)
    #: sessions with more than one terminal audit row or event (a double transition)
    double: list[str] = field(default_factory=list)
    #: audit row and session status disagree (e.g. audited "timeout" but completed)
    mismatched: list[str] = field(default_factory=list)
    #: active sessions whose deadline passed more than `bound` s ago
    stuck: list[str] = field(default_factory=list)
    orphan_releases: int = 0
    seq_gaps: list[int] = field(default_factory=list)
    seq_first: int | None = None
    seq_last: int | None = None
    counter_seq: int | None = None
    #: timed-out sessions: ended_at - deadline_at (database clock), seconds
    timeout_lateness: list[float] = field(default_factory=list)
    early_timeouts: list[str] = field(default_factory=list)
    #: sessions without exactly one start audit row
    starts: list[str] = field(default_factory=list)
    #: clients (of the sessions read) with more than one active session, or
    #: whose estado/current session disagree with their active session
    clients: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double or self.mismatched or self.stuck or self.seq_gaps
                    or self.early_timeouts or self.starts or self.clients)

    def problems(self) -> dict[str, Any]:
        return {k: v[:20] for k, v in (("lost", self.lost), ("double", self.double),
                                       ("mismatched", self.mismatched), ("stuck", self.stuck),
                                       ("seq_gaps", self.seq_gaps),
                                       ("early_timeouts", self.early_timeouts),
                                       ("starts", self.starts), ("clients", self.clients)) if v}


def check(db: Database, *, stuck_bound: float, session_ids: set[str] | None = None,
          since_seq: int = 0) -> Report:
    """Read every session (or those in `session_ids`) and the event log after
    `since_seq` and say what breaks the promises. `stuck_bound`: how long past
    its deadline an active session may still be active (WORKER_INTERVAL + slack)."""
    rep = Report()
    with db.transaction() as tx:
        if tx.get_bind().dialect.name == "mysql":
            # One snapshot for every read below: the engine's READ COMMITTED
            # gives each SELECT its own moment, so a transition committing
            # between two reads (its event after the log was read, its counter
            # before) looked like a hole. Reverted when the connection goes back.
            tx.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        now = float(tx.execute(select(db_now())).scalar_one())
        q = select(GestionSession.id, GestionSession.status, GestionSession.deadline_at,
                   GestionSession.ended_at, GestionSession.cliente_id)
        rows = [r for r in tx.execute(q).all() if session_ids is None or r[0] in session_ids]
        starts: Counter[str] = Counter(sid for (sid,) in tx.execute(
            select(AuditEntry.session_id).where(AuditEntry.action == "start")).all())
        rep.clients = _inconsistent_clients(tx, {r[4] for r in rows})
        audits: Counter[str] = Counter()
        audit_action: dict[str, str] = {}
        for sid, action in tx.execute(
                select(AuditEntry.session_id, AuditEntry.action)
                .where(AuditEntry.action.in_(TERMINAL_ACTIONS))).all():
            audits[sid] += 1
            audit_action[sid] = action
        rep.orphan_releases = int(tx.execute(
            select(func.count()).where(AuditEntry.action == "orphan_release")).scalar_one())
        events: Counter[str] = Counter()
        seqs: list[int] = []
        for seq, typ, payload in tx.execute(
                select(EventEntry.seq, EventEntry.type, EventEntry.payload)
                .where(EventEntry.seq > since_seq).order_by(EventEntry.seq)).all():
            seqs.append(int(seq))
            if typ in TERMINAL_EVENTS and payload.get("reason") != "orphan":
                events[payload.get("session_id")] += 1
        rep.counter_seq = tx.execute(select(EventCounter.seq)).scalar()
    rep.sessions = len(rows)
    rep.by_status = dict(Counter(r[1] for r in rows))
    for sid, status, deadline, ended, _ in rows:
        if starts[sid] != 1:
            rep.starts.append(sid)
        if status == "active":
            rep.active += 1
            if now - deadline > stuck_bound:
                rep.stuck.append(sid)
            if audits[sid] or events[sid]:
                rep.mismatched.append(sid)
            continue
        if audits[sid] == 0 or events[sid] == 0:
            rep.lost.append(sid)
        if audits[sid] > 1 or events[sid] > 1:
            rep.double.append(sid)
        if audits[sid] and STATUS_OF_ACTION[audit_action[sid]] != status:
            rep.mismatched.append(sid)
        if status == "timed_out":
            rep.timeout_lateness.append(ended - deadline)
            if ended < deadline:
                rep.early_timeouts.append(sid)
    if seqs:
        rep.seq_first, rep.seq_last = seqs[0], seqs[-1]
        expected = range(seqs[0], seqs[-1] + 1)
        if len(seqs) != len(expected):
            have = set(seqs)
            rep.seq_gaps = [s for s in expected if s not in have][:100]
        if rep.counter_seq is not None and rep.counter_seq != seqs[-1]:
            rep.seq_gaps.append(int(rep.counter_seq))  # committed numbers missing at the end
    return rep


def _inconsistent_clients(tx: Any, cliente_ids: set[int]) -> list[int]:
    """One active session per client; en_gestion iff one, and then it is the
    client's current session."""
    if not cliente_ids:
        return []
    active: dict[int, list[str]] = {}
    for cid, sid in tx.execute(select(GestionSession.cliente_id, GestionSession.id).where(
            GestionSession.status == "active")).all():
        if cid in cliente_ids:
            active.setdefault(cid, []).append(sid)
    bad = []
    for cid, estado, current in tx.execute(
            select(Cliente.id, Cliente.estado, Cliente.current_session_id)).all():
        if cid not in cliente_ids:
            continue
        live = active.get(cid, [])
        if len(live) > 1 or (estado == "en_gestion") != (len(live) == 1) \
                or (live and current != live[0]):
            bad.append(cid)
    return bad[:100]
