"""The GTR desk: add clients, import a CSV of them, derive them, list the queue."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from sqlalchemy import func, or_, select, update
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


def _csv_header(reader: csv.DictReader) -> list[str]:
    """The checked, lower-cased header; a file-level problem raises (422)."""
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
    return header


def scan_csv(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[ValidationFailed]]:
    """Every client line of a CSV checked by the field rules (domain/clientes.py):
    the valid ones as (line, cleaned fields) and every bad line's error, in
    file order. A problem of the whole file (NUL byte, header, no clients)
    raises; a line the csv module cannot read ends the scan with its error."""
    nul = text.find("\x00")
    if nul >= 0:
        line_no = _line_of(text, nul)
        raise ValidationFailed(f"line {line_no} contains a NUL byte", field="file",
                               line=line_no)
    # newline="": the csv module splits \n, \r\n and \r itself, and keeps
    # newlines inside quoted fields (the default split on \n only: 500 on CR)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    reader.fieldnames = _csv_header(reader)
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[ValidationFailed] = []
    while True:
        first_line = reader.line_num + 1  # where the next record starts
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(ValidationFailed(f"line {first_line}: {_csv_problem(exc)}",
                                           field="file", line=first_line))
            break
        line_no = reader.line_num  # blank lines are skipped, so count as the file does
        if None in raw:
            errors.append(ValidationFailed(f"line {line_no} has too many values", field="file",
                                           line=line_no))
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue
        try:
            rows.append((line_no, clean_fields(raw)))
        except ValidationFailed as exc:
            errors.append(ValidationFailed(f"line {line_no}: {exc.message}", line=line_no,
                                           **exc.details))
        if len(rows) + len(errors) > MAX_IMPORT_ROWS:
            errors.append(ValidationFailed(f"at most {MAX_IMPORT_ROWS} clients per file",
                                           field="file", line=line_no))
            break
    if not rows and not errors:
        raise ValidationFailed("the CSV file has no clients", field="file")
    return rows, errors


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
        rows, errors = scan_csv(text)
        if errors:
            raise errors[0]
        return self._import_batches(actor_id, [data for _, data in rows])

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
            now = ch.now()  # "esperando desde": a new client waits from its creation
            created = []
            for data in rows:
                c = Cliente(**data, estado=Estado.NUEVO.value, lock_token=0, updated_at=now)
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

    # ------------------------------------------------------------ the GTR desk

    def search(
        self,
        *,
        viewer: Viewer | None = None,
        q: str | None = None,
        estados: list[str] | None = None,
        asesor_id: int | None = None,
        order: str = "id",
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """A page of the clients `viewer` may see, matching `q` (see `search_clause`),
        in any of `estados`, with the server's total. `order`: `oldest` is the
        longest waiting first (last state change, then id), `newest` the reverse."""
        cond = [visible_clause(viewer)]
        if estados:
            cond.append(Cliente.estado.in_(estados))
        if asesor_id is not None:
            cond.append(Cliente.asesor_asignado == asesor_id)
        if q is not None and q.strip():
            cond.append(search_clause(q))
        keys = {"id": (Cliente.id,),
                "oldest": (Cliente.updated_at.asc(), Cliente.id.asc()),
                "newest": (Cliente.updated_at.desc(), Cliente.id.desc())}[order]
        with self.db.transaction() as tx:
            total = tx.execute(select(func.count(Cliente.id)).where(*cond)).scalar_one()
            rows = tx.execute(select(Cliente).where(*cond).order_by(*keys)
                              .limit(limit).offset(offset)).scalars().all()
            return {"items": [cliente_view(c) for c in rows], "total": int(total),
                    "limit": limit, "offset": offset}

    def resumen(self) -> dict[str, Any]:
        """Every state's count and its longest-waiting client's last change (GTR)."""
        with self.db.transaction() as tx:
            now = float(tx.execute(select(db_now())).scalar_one())
            rows = tx.execute(select(Cliente.estado, func.count(Cliente.id),
                                     func.min(Cliente.updated_at))
                              .group_by(Cliente.estado)).all()
        counts = {e.value: 0 for e in Estado}
        oldest: dict[str, float | None] = {e.value: None for e in Estado}
        for estado, count, since in rows:
            counts[estado] = int(count)
            oldest[estado] = float(since) if since is not None else None
        return {"counts": counts, "oldest": oldest, "now": now}

    def check_import(self, text: str) -> dict[str, Any]:
        """What an import of `text` would do, writing nothing: the valid lines
        (cleaned), every bad line's error, and the lines whose phone or document
        is already a client's or appears on an earlier line."""
        rows, errors = scan_csv(text)
        duplicates: list[dict[str, Any]] = []
        for name in ("telefono", "documento"):
            values = {data[name] for _, data in rows if data[name]}
            existing: dict[str, int] = {}
            chunked = sorted(values)
            with self.db.transaction() as tx:
                for i in range(0, len(chunked), 500):
                    column = getattr(Cliente, name)
                    for cid, value in tx.execute(select(Cliente.id, column).where(
                            column.in_(chunked[i:i + 500]))).all():
                        existing.setdefault(value.casefold(), cid)
            seen: dict[str, int] = {}
            for line, data in rows:
                value = data[name]
                if not value:
                    continue
                key = value.casefold()
                if key in existing or key in seen:
                    duplicates.append({"line": line, "field": name, "value": value,
                                       "cliente_id": existing.get(key),
                                       "first_line": seen.get(key)})
                seen.setdefault(key, line)
        duplicates.sort(key=lambda d: (d["line"], d["field"]))
        return {
            "total": len(rows) + sum(1 for e in errors if e.details.get("line")),
            "rows": [{"line": line, **data} for line, data in rows],
            "errors": [{"line": e.details.get("line", 0), "field": e.details.get("field", "file"),
                        "message": e.message} for e in errors],
            "duplicates": duplicates,
        }

    def create_batch(self, actor_id: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create the given clients (checked by the field rules first, all or
        nothing), in the import's batches: one part of a checked CSV import."""
        cleaned = []
        for i, row in enumerate(rows):
            try:
                cleaned.append(clean_fields(row))
            except ValidationFailed as exc:
                raise ValidationFailed(f"clientes.{i}: {exc.message}", index=i,
                                       **exc.details) from None
        return self._import_batches(actor_id, cleaned)

    def derive_many(self, actor_id: int, ids: list[int],
                    asesor_id: int | None) -> dict[str, Any]:
        """Derive each client in `ids` (one transaction and one event each, as
        `derive`); a client that cannot be derived (gone, in gestión, changed
        meanwhile) is reported, not fatal. An advisor who is not an active
        advisor refuses the whole request before anything changes."""
        if asesor_id is not None:
            with self.db.transaction() as tx:
                self._check_asesor(tx, asesor_id)
        done: list[int] = []
        failed: list[dict[str, Any]] = []
        for cliente_id in dict.fromkeys(ids):  # once each, in the given order
            try:
                self.derive(actor_id, cliente_id, asesor_id)
                done.append(cliente_id)
            except DomainError as exc:
                failed.append({"cliente_id": cliente_id, "error": exc.code,
                               "message": exc.message})
        return {"derived": done, "failed": failed}


def _like_prefix(text: str) -> str:
    """`text%` for LIKE, with the wildcards in `text` matched literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_clause(q: str) -> Any:
    """The search box: a client id (`42` or `#42`), or the start of the name,
    of the phone or of the document (the column's collation decides case and
    accents: MariaDB's utf8mb4_unicode_ci ignores both). Each is an index
    range read (ix_clientes_nombre / _telefono / _documento, merged by
    MariaDB's index_merge sort_union), so the search does not scan the table:
    a word inside the name (a surname after the first name) is not matched,
    which would read every row (~250 ms at 100,000 clients)."""
    text = q.strip()
    prefix = _like_prefix(text)
    cond = [Cliente.nombre.like(prefix, escape="\\"),
            Cliente.telefono.like(prefix, escape="\\"),
            Cliente.documento.like(prefix, escape="\\")]
    digits = text.removeprefix("#")
    if digits.isascii() and digits.isdigit() and len(digits) <= 10:
        cond.append(Cliente.id == int(digits))
    return or_(*cond)
