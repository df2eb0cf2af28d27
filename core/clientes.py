"""The GTR desk: add clients, import a CSV of them, derive them, list the queue."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.changes import Changes
from core.db import db_now
from core.models import Cliente, User
from core.visibility import visible_clause, visible_cliente
from domain.clientes import FIELDS as CSV_COLUMNS
from domain.clientes import clean_fields
from domain.errors import DomainError, InvalidState, ValidationFailed
from domain.events import Event, asesor_room
from domain.states import DERIVABLE, Estado, Role, can_derive
from domain.visibility import Viewer

MAX_IMPORT_ROWS = 10_000
#: Rows per transaction of an import: one transaction of 10,000 rows held the
#: SQLite write lock (and, on gevent, the whole web process) 9-14 s; a batch
#: holds it for tens of milliseconds, then other requests run (IMPORT_YIELD).
IMPORT_BATCH = 500
IMPORT_YIELD = 0.005  # seconds given to other greenlets/threads between batches


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


def _line_of(text: str, index: int) -> int:
    """The 1-based line of `text[index]` (LF, CRLF or CR line ends)."""
    return len(text[:index].replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def _csv_problem(exc: csv.Error) -> str:
    """The csv module's complaint, in the API's words."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quoted field is never closed (a \" opened here has no closing \")"
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit()} characters"
    if "expected after" in text:
        return "text after a closing quote (write a quote inside a field as \"\")"
    return f"not valid CSV ({text[:120]})"


class ClienteService:
    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self.db = changes.db

    def get(self, viewer: Viewer | None, cliente_id: int) -> dict[str, Any]:
        """One client; 404 for one the viewer may not see (domain/visibility.py)."""
        with self.db.transaction() as tx:
            return cliente_view(visible_cliente(tx, viewer, cliente_id))

    def list(
        self,
        *,
        estado: str | None = None,
        asesor_id: int | None = None,
        viewer: Viewer | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """The queue, as far as `viewer` may see it (domain/visibility.py)."""
        q = select(Cliente).where(visible_clause(viewer))
        if estado is not None:
            q = q.where(Cliente.estado == estado)
        if asesor_id is not None:
            q = q.where(Cliente.asesor_asignado == asesor_id)
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
        data = clean_fields(fields)
        return self._create_many(actor_id, [data], action="create")[0]

    def import_csv(self, actor_id: int, text: str) -> list[dict[str, Any]]:
        """All or nothing: one bad line rejects the file, naming line and field.
        Strict CSV: a quote never closed (which would fold the next lines into
        one client's field), text after a closing quote, a field over the CSV
        limit or a NUL byte is a 422 naming its line. Lines may end in LF,
        CRLF or CR alone."""
        nul = text.find("\x00")
        if nul >= 0:
            line_no = _line_of(text, nul)
            raise ValidationFailed(f"line {line_no} contains a NUL byte", field="file",
                                   line=line_no)
        # newline="": the csv module splits \n, \r\n and \r itself, and keeps
        # newlines inside quoted fields (the default split on \n only: 500 on CR)
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise ValidationFailed(f"line 1: {_csv_problem(exc)}", field="file", line=1) from None
        header = [h.strip().lower() for h in (fieldnames or [])]
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
        while True:
            first_line = reader.line_num + 1  # where the next record starts
            try:
                raw = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise ValidationFailed(f"line {first_line}: {_csv_problem(exc)}", field="file",
                                       line=first_line) from None
            line_no = reader.line_num  # blank lines are skipped, so count as the file does
            if None in raw:
                raise ValidationFailed(f"line {line_no} has too many values", field="file",
                                       line=line_no)
            if not any((v or "").strip() for v in raw.values()):
                continue
            try:
                rows.append(clean_fields(raw))
            except ValidationFailed as exc:
                raise ValidationFailed(f"line {line_no}: {exc.message}", line=line_no,
                                       **exc.details) from exc
            if len(rows) > MAX_IMPORT_ROWS:
                raise ValidationFailed(f"at most {MAX_IMPORT_ROWS} clients per file",
                                       field="file")
        if not rows:
            raise ValidationFailed("the CSV file has no clients", field="file")
        return self._import_batches(actor_id, rows)

    def _import_batches(self, actor_id: int, rows: list[dict[str, Any]]) -> list[dict]:
        """Every row is validated before the first write (a bad line rejects the
        whole file). Then IMPORT_BATCH rows per transaction, yielding between
        batches, so heartbeats and timeouts keep their bounds during a large
        import. If a later batch fails (the database lost mid-import), the
        batches committed before it stay, each with its audit rows and its
        CLIENT_CREATED event; the error says how many clients were created."""
        views: list[dict] = []
        for start in range(0, len(rows), IMPORT_BATCH):
            if start:
                time.sleep(IMPORT_YIELD)  # gevent/eventlet: patched, lets others run
            try:
                views += self._create_many(actor_id, rows[start:start + IMPORT_BATCH],
                                           action="import")
            except DomainError as exc:
                if not views:
                    raise
                exc.message = (f"{exc.message}; the first {len(views)} clients of the file "
                               f"were created (ids {views[0]['id']}..{views[-1]['id']}), "
                               "the rest were not")
                exc.details["created"] = len(views)
                raise
        return views

    def _create_many(self, actor_id: int, rows: list[dict[str, Any]], action: str) -> list[dict]:
        with self.changes.begin() as ch:
            tx = ch.tx
            created = []
            for data in rows:
                c = Cliente(**data, estado=Estado.NUEVO.value, lock_token=0)
                tx.add(c)
                created.append(c)
            tx.flush()
            ch.audit_many([{"cliente_id": c.id, "actor_id": actor_id, "action": action,
                            "from_state": None, "to_state": Estado.NUEVO.value}
                           for c in created])  # one statement, not one per client
            # one SELECT for the server defaults (created_at), not one per client
            tx.execute(select(Cliente).where(Cliente.id.in_([c.id for c in created]))
                       .execution_options(populate_existing=True)).scalars().all()
            views = [cliente_view(c) for c in created]
            ch.push(Event.CLIENT_CREATED, rooms_asesor=None,
                    cliente_id=views[0]["id"] if len(views) == 1 else None,
                    estado=Estado.NUEVO.value, asesor_id=None, ts=ch.now(), count=len(views),
                    ids=[v["id"] for v in views][:1000])
        return views

    @staticmethod
    def _check_asesor(tx: Session, asesor_id: int) -> None:
        user = tx.get(User, asesor_id)
        if user is None or user.role != Role.ASESOR.value or not user.active:
            raise ValidationFailed(f"asesor {asesor_id} is not an active advisor",
                                   field="asesor_id")

    def derive(self, actor_id: int, cliente_id: int, asesor_id: int | None) -> dict[str, Any]:
        """Hand a client to an advisor, or to the shared pool when asesor_id is None."""
        with self.changes.begin() as ch:
            tx = ch.tx
            pre = visible_cliente(tx, None, cliente_id)
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
            ch.audit(cliente_id=cliente_id, actor_id=actor_id, action="derivar",
                     from_state=before, to_state=Estado.DERIVADO.value,
                     detail={"asesor_id": asesor_id, "previous_asesor_id": previous})
            tx.expire(pre)
            view = cliente_view(tx.get(Cliente, cliente_id))
            # the previous advisor hears it too, so it leaves their list
            extra = [asesor_room(previous)] if previous not in (None, asesor_id) else []
            ch.push(Event.CLIENT_DERIVED, rooms_asesor=asesor_id, rooms_pool=asesor_id is None,
                    extra_rooms=extra, cliente_id=cliente_id, estado=view["estado"],
                    asesor_id=asesor_id, ts=ch.now(), pool=asesor_id is None,
                    previous_asesor_id=previous)
        return view
