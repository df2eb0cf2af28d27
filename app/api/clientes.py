"""The GTR desk and the advisors' view of the queue."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import commands
from app.auth import current_user, require
from app.contract import operation
from app.registry import services
from app.schemas import (
    AlertasOut,
    AlertasQuery,
    AsesorOut,
    BulkDeriveIn,
    BulkDeriveOut,
    ClienteIn,
    ClienteList,
    ClienteOut,
    ClientesQuery,
    DeriveIn,
    HistorialOut,
    ImportCheckOut,
    ImportOut,
    LoteIn,
    ResumenOut,
    json_object,
    parse,
    parse_query,
)
from core.historial import historial
from domain.errors import ValidationFailed
from domain.states import Role

bp = Blueprint("clientes", __name__, url_prefix="/api")


@bp.get("/clientes")
@operation(tags=["clientes"], query=ClientesQuery, ok={200: ClienteList}, errors=(422,))
@require()
def list_clientes():
    """The queue: search, filters and pages with the total; an advisor sees their
    own clients plus the pool."""
    q = parse_query(ClientesQuery)
    user = current_user()
    estados = q.estados.split(",") if q.estados else None
    if q.estado is not None:  # both: the clients in the state both allow
        estados = [q.estado.value] if estados is None or q.estado.value in estados else []
    return jsonify(services().clientes.search(
        viewer=user.viewer, q=q.q, estados=estados, asesor_id=q.asesor_id, order=q.order,
        limit=q.limit, offset=q.offset,
    ))


@bp.get("/clientes/<id:cliente_id>")
@operation(tags=["clientes"], ok={200: ClienteOut}, errors=(404,))
@require()
def get_cliente(cliente_id: int):
    """One client (an advisor: only theirs or the pool); counts as activity."""
    return jsonify(services().clientes.get(current_user().viewer, cliente_id))


@bp.post("/clientes")
@operation(tags=["clientes"], body=ClienteIn, ok={201: ClienteOut}, errors=(400, 403, 413, 422))
@require(Role.GTR)
def create_cliente():
    """Add a client (state `nuevo`); pushes CLIENT_CREATED."""
    body = parse(ClienteIn)
    view = services().clientes.create(current_user().id, body.model_dump())
    return jsonify(view), 201


@bp.post("/clientes/import")
@operation(tags=["clientes"], ok={201: ImportOut}, errors=(403, 413, 422))
@require(Role.GTR)
def import_clientes():
    """Import a CSV: multipart field `file`, or a text/csv body.

    Header `nombre,telefono[,email,documento,notas]`; all or nothing: a bad
    line rejects the file with 422 naming the `line` and `field`."""
    text = _csv_text()
    views = services().clientes.import_csv(current_user().id, text)
    return jsonify({"imported": len(views), "ids": [v["id"] for v in views]}), 201


@bp.post("/clientes/<id:cliente_id>/derivar")
@operation(tags=["clientes"], body=DeriveIn, body_optional=True, ok={200: ClienteOut},
           errors=(400, 403, 404, 409, 413, 422))
@require(Role.GTR)
def derivar(cliente_id: int):
    """Hand a client to an advisor, or to the shared pool (no `asesor_id`)."""
    answer, status = commands.execute(commands.DERIVE, current_user(),
                                      json_object(optional=True), {"cliente_id": cliente_id})
    return jsonify(answer), status


@bp.get("/asesores")
@operation(tags=["clientes"], ok={200: list[AsesorOut]}, errors=(403,))
@require(Role.GTR)
def list_asesores():
    """The advisors, for the derive menu."""
    return jsonify([{k: u[k] for k in ("id", "username", "nombre", "active")}
                    for u in services().users.list(Role.ASESOR)])


def _csv_text() -> str:
    """The uploaded CSV (multipart field `file`, or a text/csv body) as text."""
    upload = request.files.get("file")
    if upload is not None:
        raw = upload.read()
    elif request.mimetype in ("text/csv", "text/plain"):
        raw = request.get_data()
    else:
        raise ValidationFailed("send a CSV as multipart field 'file' or as a text/csv body",
                               field="file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("the CSV file must be UTF-8", field="file") from None


@bp.get("/clientes/resumen")
@operation(tags=["clientes"], ok={200: ResumenOut}, errors=(403,))
@require(Role.GTR)
def clientes_resumen():
    """Every state's true count and since when its longest-waiting client waits."""
    return jsonify(services().clientes.resumen())


@bp.post("/clientes/import/check")
@operation(tags=["clientes"], ok={200: ImportCheckOut}, errors=(403, 413, 422))
@require(Role.GTR)
def check_import():
    """Check a CSV without writing anything: the valid lines, every bad line,
    and the duplicate phones and documents (in the database or the file)."""
    return jsonify(services().clientes.check_import(_csv_text()))


@bp.post("/clientes/lote")
@operation(tags=["clientes"], body=LoteIn, ok={201: ImportOut}, errors=(400, 403, 413, 422))
@require(Role.GTR)
def create_lote():
    """Create up to 1000 clients at once (a part of a checked CSV import)."""
    body = parse(LoteIn)
    views = services().clientes.create_batch(
        current_user().id, [c.model_dump() for c in body.clientes])
    return jsonify({"imported": len(views), "ids": [v["id"] for v in views]}), 201


@bp.post("/clientes/derivar")
@operation(tags=["clientes"], body=BulkDeriveIn, ok={200: BulkDeriveOut},
           errors=(400, 403, 413, 422))
@require(Role.GTR)
def derivar_varios():
    """Derive up to 500 clients to one advisor or the pool, each as
    `/clientes/<id>/derivar` does; the ones that cannot be derived are listed."""
    body = parse(BulkDeriveIn)
    return jsonify(services().clientes.derive_many(current_user().id, list(body.ids),
                                                   body.asesor_id))


@bp.get("/alertas")
@operation(tags=["clientes"], query=AlertasQuery, ok={200: AlertasOut}, errors=(403, 422))
@require(Role.GTR)
def alertas():
    """The latest returns to GTR (timeout, released, orphan), newest first, with
    the time and who held the client: the board's alert list after a reload."""
    q = parse_query(AlertasQuery)
    return jsonify(services().reports.returns(q.limit))


@bp.get("/clientes/<id:cliente_id>/historial")
@operation(tags=["clientes"], ok={200: HistorialOut}, errors=(404,))
@require()
def historial_cliente(cliente_id: int):
    """The client's handling history, newest first (when, by whom, result,
    duration, notes), and when it was last derived; 404 for a client the
    caller may not see. An advisor's call about a client they hold counts as activity."""
    return jsonify(historial(services().db, current_user().viewer, cliente_id))
