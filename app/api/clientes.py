"""The GTR desk and the advisors' view of the queue."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import commands
from app.auth import current_user, require
from app.contract import operation
from app.registry import services
from app.schemas import (
    AsesorOut,
    ClienteIn,
    ClienteList,
    ClienteOut,
    ClientesQuery,
    DeriveIn,
    HistorialOut,
    ImportOut,
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
    """The queue, by id; an advisor sees their own clients plus the pool."""
    q = parse_query(ClientesQuery)
    user = current_user()
    return jsonify(services().clientes.list(
        estado=q.estado.value if q.estado else None,
        asesor_id=q.asesor_id,
        viewer=user.viewer,
        limit=q.limit,
        offset=q.offset,
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
    upload = request.files.get("file")
    if upload is not None:
        raw = upload.read()
    elif request.mimetype in ("text/csv", "text/plain"):
        raw = request.get_data()
    else:
        raise ValidationFailed("send a CSV as multipart field 'file' or as a text/csv body",
                               field="file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("the CSV file must be UTF-8", field="file") from None
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


@bp.get("/clientes/<id:cliente_id>/historial")
@operation(tags=["clientes"], ok={200: HistorialOut}, errors=(404,))
@require()
def historial_cliente(cliente_id: int):
    """The client's handling history, newest first (when, by whom, result,
    duration, notes), and when it was last derived; 404 for a client the
    caller may not see. An advisor's call about a client they hold counts as activity."""
    return jsonify(historial(services().db, current_user().viewer, cliente_id))
