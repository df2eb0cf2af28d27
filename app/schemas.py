"""Request bodies, validated with pydantic: wrong types, missing fields and
unknown enum values become a 422 that names the field; bad JSON a 400."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from domain.errors import DomainError, ValidationFailed
from domain.states import Resultado

Id = Annotated[StrictInt, Field(gt=0, le=2_147_483_647)]
SessionId = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LoginIn(Body):
    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=256)]


class ClienteRef(Body):
    cliente_id: Id
    session_id: SessionId | None = None


class EndIn(ClienteRef):
    resultado: Resultado
    notas: Annotated[StrictStr, Field(max_length=5000)] | None = None


class DeriveIn(Body):
    asesor_id: Id | None = None


class BadJson(DomainError):
    status = 400
    code = "invalid_json"


M = TypeVar("M", bound=BaseModel)


def json_object(*, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return {}
        raise BadJson("a JSON object body is required")
    if not request.is_json:
        raise BadJson("send the body as application/json")
    try:
        data = request.get_json(force=True)
    except Exception:  # noqa: BLE001 - werkzeug raises BadRequest for bad JSON
        raise BadJson("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadJson("the body must be a JSON object")
    return data


def parse(model: type[M], *, optional: bool = False) -> M:
    data = json_object(optional=optional)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = errors[0]
        raise ValidationFailed(f"{first['field']}: {first['message']}", field=first["field"],
                               errors=errors) from None
