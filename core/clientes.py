"""The GTR desk: add clients, import a CSV of them, derive them, list the queue."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.db import Database, db_now
from core.eventlog import record
from core.models import Cliente, User
from core.sessions import PushSink, audit
from domain.errors import InvalidState, NotFound, ValidationFailed
from domain.events import Event, Push, asesor_room, envelope, rooms_for
from domain.states import DERIVABLE, Estado, Role, can_derive

CSV_COLUMNS = ("nombre", "telefono", "email", "documento", "notas")
MAX_IMPORT_ROWS = 10_000


def cliente_view(c: Cliente) -> dict[str, Any]:
    return {
        "id": c.id,
        "nombre": c.nombre,
        "telefono": c.telefono,
        "email": c.email,
        "documento": c.documento,
        "notas": c.notas,
        "estado": c.estado,
        "asesor_asignado": c.asesor_asignado,
        "session_id": c.current_session_id,
        "lock_token": c.lock_token,
        "created_at": c.created_at.isoformat() if c.created_at else None,
        "updated_at": c.updated_at,
    }


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """Validate one client's fields; raises ValidationFailed naming the field."""
    out: dict[str, Any] = {}
    limits = {"nombre": 160, "telefono": 32, "email": 160, "documento": 32, "notas": 5000}
    for name, limit in limits.items():
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in ("nombre", "telefono"):
                raise ValidationFailed(f"{name} is required", field=name)
            out[name] = None
            continue
        if not isinstance(value, str):
            raise ValidationFailed(f"{name} must be a string", field=name)
        value = value.strip()
        if len(value) > limit:
            raise ValidationFailed(f"{name} is longer than {limit} characters", field=name)
        out[name] = value
    tel = out["telefono"]
    if not any(ch.isdigit() for ch in tel) or any(ch not in "0123456789+-() ." for ch in tel):
        raise ValidationFailed("telefono must be a phone number", field="telefono")
    if out["email"] is not None and "@" not in out["email"]:
        raise ValidationFailed("email is not an address", field="email")
    return out


class ClienteService:
    def __init__(self, db: Database, publisher: PushSink) -> None:
        self.db = db
        self.publisher = publisher

    def get(self, cliente_id: int) -> dict[str, Any]:
        with self.db.transaction() as tx:
            c = tx.get(Cliente, cliente_id)
            if c is None:
                raise NotFound(f"cliente {cliente_id} not found", cliente_id=cliente_id)
            return cliente_view(c)

    def list(
        self,
        *,
        estado: str | None = None,
        asesor_id: int | None = None,
        visible_to: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """The queue. `visible_to` limits an advisor to their own clients plus the pool."""
        q = select(Cliente)
        if estado is not None:
            q = q.where(Cliente.estado == estado)
        if asesor_id is not None:
            q = q.where(Cliente.asesor_asignado == asesor_id)
        if visible_to is not None:
            q = q.where(
                or_(
                    Cliente.asesor_asignado == visible_to,
                    (Cliente.estado == Estado.DERIVADO.value) & Cliente.asesor_asignado.is_(None),
                )
            )
        with self.db.transaction() as tx:
            total = tx.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            rows = tx.execute(q.order_by(Cliente.id).limit(limit).offset(offset)).scalars().all()
            return {
                "items": [cliente_view(c) for c in rows],
                "total": int(total),
                "limit": limit,
                "offset": offset,
            }

    def create(self, actor_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        data = clean_row(fields)
        return self._create_many(actor_id, [data], action="create")[0]

    def import_csv(self, actor_id: int, text: str) -> list[dict[str, Any]]:
        """All or nothing: one bad line rejects the file, naming line and field."""
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if not header:
            raise ValidationFailed("the CSV file is empty", field="file")
        missing = [c for c in ("nombre", "telefono") if c not in header]
        if missing:
            raise ValidationFailed(f"CSV header lacks {', '.join(missing)}", field="file",
                                   expected=list(CSV_COLUMNS))
        unknown = [h for h in header if h not in CSV_COLUMNS]
        if unknown:
            raise ValidationFailed(f"unknown CSV columns: {', '.join(unknown)}", field="file",
                                   expected=list(CSV_COLUMNS))
        reader.fieldnames = header
        rows: list[dict[str, Any]] = []
        for raw in reader:
            line_no = reader.line_num  # blank lines are skipped, so count as the file does
            if None in raw:
                raise ValidationFailed(f"line {line_no} has too many values", field="file",
                                       line=line_no)
            if not any((v or "").strip() for v in raw.values()):
                continue
            try:
                rows.append(clean_row(raw))
            except ValidationFailed as exc:
                raise ValidationFailed(f"line {line_no}: {exc.message}", line=line_no,
                                       **exc.details) from exc
            if len(rows) > MAX_IMPORT_ROWS:
                raise ValidationFailed(f"at most {MAX_IMPORT_ROWS} clients per file",
                                       field="file")
        if not rows:
            raise ValidationFailed("the CSV file has no clients", field="file")
        return self._create_many(actor_id, rows, action="import")

    def _create_many(self, actor_id: int, rows: list[dict[str, Any]], action: str) -> list[dict]:
        with self.db.transaction() as tx:
            created = []
            for data in rows:
                c = Cliente(**data, estado=Estado.NUEVO.value, lock_token=0)
                tx.add(c)
                created.append(c)
            tx.flush()
            for c in created:
                audit(tx, cliente_id=c.id, actor_id=actor_id, action=action, from_state=None,
                      to_state=Estado.NUEVO.value)
            tx.flush()
            for c in created:
                tx.refresh(c)
            views = [cliente_view(c) for c in created]
            now = float(tx.execute(select(db_now())).scalar_one())
            push = Push(
                Event.CLIENT_CREATED,
                envelope(Event.CLIENT_CREATED, cliente_id=views[0]["id"] if len(views) == 1
                         else None, estado=Estado.NUEVO.value, asesor_id=None, ts=now,
                         count=len(views), ids=[v["id"] for v in views][:1000]),
                rooms_for(Event.CLIENT_CREATED, asesor_id=None),
            )
            record(tx, [push])
        self.publisher.publish([push])
        return views

    @staticmethod
    def _check_asesor(tx: Session, asesor_id: int) -> None:
        user = tx.get(User, asesor_id)
        if user is None or user.role != Role.ASESOR.value or not user.active:
            raise ValidationFailed(f"asesor {asesor_id} is not an active advisor",
                                   field="asesor_id")

    def derive(self, actor_id: int, cliente_id: int, asesor_id: int | None) -> dict[str, Any]:
        """Hand a client to an advisor, or to the shared pool when asesor_id is None."""
        with self.db.transaction() as tx:
            pre = tx.get(Cliente, cliente_id)
            if pre is None:
                raise NotFound(f"cliente {cliente_id} not found", cliente_id=cliente_id)
            if asesor_id is not None:
                self._check_asesor(tx, asesor_id)
            if not can_derive(pre.estado):
                raise InvalidState(
                    f"cliente {cliente_id} is {pre.estado}; it can be derived only from "
                    + ", ".join(sorted(DERIVABLE)),
                    estado=pre.estado,
                )
            before, previous = pre.estado, pre.asesor_asignado
            done = tx.execute(
                update(Cliente)
                .where(Cliente.id == cliente_id, Cliente.estado == before,
                       Cliente.lock_token == pre.lock_token)
                .values(estado=Estado.DERIVADO.value, asesor_asignado=asesor_id,
                        updated_at=db_now())
                .execution_options(synchronize_session=False)
            ).rowcount
            if not done:
                raise InvalidState("the client changed while deriving it; retry")
            audit(tx, cliente_id=cliente_id, actor_id=actor_id, action="derivar",
                  from_state=before, to_state=Estado.DERIVADO.value,
                  detail={"asesor_id": asesor_id, "previous_asesor_id": previous})
            tx.expire(pre)
            view = cliente_view(tx.get(Cliente, cliente_id))
            now = float(tx.execute(select(db_now())).scalar_one())
            rooms = rooms_for(Event.CLIENT_DERIVED, asesor_id=asesor_id, pool=asesor_id is None)
            if previous is not None and previous != asesor_id:
                rooms.append(asesor_room(previous))  # so it leaves the previous advisor's list
            push = Push(
                Event.CLIENT_DERIVED,
                envelope(Event.CLIENT_DERIVED, cliente_id=cliente_id, estado=view["estado"],
                         asesor_id=asesor_id, ts=now, pool=asesor_id is None,
                         previous_asesor_id=previous),
                rooms,
            )
            record(tx, [push])
        self.publisher.publish([push])
        return view

