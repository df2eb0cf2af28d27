"""The GTR desk and the advisors' view of the queue."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from app.auth import current_user, require
from app.factory import components
from app.schemas import DeriveIn, json_object, parse
from core.models import User
from domain.errors import NotFound, ValidationFailed
from domain.states import Estado, Role

bp = Blueprint("clientes", __name__, url_prefix="/api")


def _query_int(name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a whole number", field=name) from None
    if not lo <= value <= hi:
        raise ValidationFailed(f"{name} must be between {lo} and {hi}", field=name)
    return value


@bp.get("/clientes")
@require()
def list_clientes():
    estado = request.args.get("estado") or None
    if estado is not None and estado not in {e.value for e in Estado}:
        raise ValidationFailed(f"estado must be one of {', '.join(e.value for e in Estado)}",
                               field="estado")
    user = current_user()
    return jsonify(components().clientes.list(
        estado=estado,
        asesor_id=_query_int("asesor_id", None, 1, 2_147_483_647),
        visible_to=None if user.is_gtr else user.id,
        limit=_query_int("limit", 50, 1, 500),
        offset=_query_int("offset", 0, 0, 10_000_000),
    ))


@bp.get("/clientes/<id:cliente_id>")
@require()
def get_cliente(cliente_id: int):
    view = components().clientes.get(cliente_id)
    user = current_user()
    visible = user.is_gtr or view["asesor_asignado"] == user.id or (
        view["estado"] == Estado.DERIVADO.value and view["asesor_asignado"] is None)
    if not visible:
        raise NotFound(f"cliente {cliente_id} not found", cliente_id=cliente_id)
    return jsonify(view)


@bp.post("/clientes")
@require(Role.GTR)
def create_cliente():
    view = components().clientes.create(current_user().id, json_object())
    return jsonify(view), 201


@bp.post("/clientes/import")
@require(Role.GTR)
def import_clientes():
    """CSV upload: multipart field `file`, or a text/csv body."""
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
    views = components().clientes.import_csv(current_user().id, text)
    return jsonify({"imported": len(views), "ids": [v["id"] for v in views]}), 201


@bp.post("/clientes/<id:cliente_id>/derivar")
@require(Role.GTR)
def derivar(cliente_id: int):
    body = parse(DeriveIn, optional=True)
    return jsonify(components().clientes.derive(current_user().id, cliente_id, body.asesor_id))


@bp.get("/asesores")
@require(Role.GTR)
def list_asesores():
    with components().db.transaction() as tx:
        rows = tx.execute(
            select(User).where(User.role == Role.ASESOR.value).order_by(User.id)
        ).scalars().all()
        return jsonify([{"id": u.id, "username": u.username, "nombre": u.nombre,
                         "active": u.active} for u in rows])
