"""The public API contract: an OpenAPI 3.1 document generated from the code
(spectree reads the route table and the pydantic models of app/schemas.py)
and served at /api/openapi.json, with Swagger UI at /api/docs (its files come
from the pinned `swagger-ui-bundle-v2` package: no CDN, works offline).

Request bodies are validated by `app.schemas.parse` with the same models the
document names, so the contract and the checks cannot drift apart. Each
endpoint declares itself with `@operation(...)` under its route decorator;
`tests/test_contract.py` fails when an /api route is missing from the document."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, send_from_directory
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecuritySchemeData
from spectree.plugins.flask_plugin import FlaskPlugin

from app.schemas import ErrorOut

API_VERSION = "1.0.0"
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 2_147_483_647}
ERROR_TEXT = {
    400: "Bad JSON (`invalid_json`), or a body that is not a JSON object",
    401: "No token, or an expired (`token_expired`) or invalid (`invalid_token`) one",
    403: "The token's role may not do this, or the client belongs to another advisor",
    404: "Unknown client (or one the advisor may not see), or an id out of range",
    409: "The client's state forbids it: `client_locked` (with `holder`), `invalid_state`, "
         "`session_expired`, `no_active_session`",
    413: "The body is larger than 4 MiB (`payload_too_large`)",
    422: "A field is missing, of the wrong type or out of range (`validation_error`, "
         "with `field`)",
    429: "Too many requests (`rate_limited`); `Retry-After` says when to try again",
    503: "A dependency is down",
}


class AlbruFlaskPlugin(FlaskPlugin):
    """spectree's Flask plugin, taught our `<id:...>` URL converter."""

    def parse_path(self, route, path_parameter_descriptions):
        path, parameters = super().parse_path(route, path_parameter_descriptions)
        for param in parameters:
            if param["schema"] is None:  # the `id` converter: 1 .. 2^31-1
                param["schema"] = dict(ID_SCHEMA)
                param["description"] = param["description"] or "a row id (1 .. 2^31-1)"
        return path, parameters


api = SpecTree(
    backend=AlbruFlaskPlugin,
    mode="strict",  # only endpoints declared with @operation; a test checks none is left out
    path="api/docs",
    title="ALBRU session engine",
    version=API_VERSION,
    description=(
        "REST API of the ALBRU call-center session engine. Every error is JSON: "
        "`{\"error\": code, \"message\": text, ...details}`. Log in with "
        "`POST /api/auth/login`, then send `Authorization: Bearer <token>`. Live "
        "events are pushed over Socket.IO (see the README)."
    ),
    annotations=False,
    page_templates={},
    security_schemes=[SecurityScheme(name="bearerAuth", data=SecuritySchemeData(
        type="http", scheme="bearer", bearer_format="JWT",
        description="the `token` of POST /api/auth/login"))],
    security={"bearerAuth": []},
    validation_error_model=ErrorOut,
    # plain class names (ours are unique) instead of spectree's hashed ones
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)


#: operationIds whose JSON body may be left out
OPTIONAL_BODIES: set[str] = set()


def operation(
    *,
    tags: Iterable[str],
    ok: dict[int, Any],
    errors: Iterable[int] = (),
    body: Any = None,
    body_optional: bool = False,
    query: Any = None,
    public: bool = False,
) -> Callable[[Callable], Callable]:
    """Declare an endpoint in the contract: its success answers (`ok`: status ->
    model), the error statuses it may answer (401 is implied unless `public`),
    and its JSON body / query models (the ones the handler validates with).
    The view's name is its operationId, its docstring the summary."""
    codes: dict[str, Any] = {f"HTTP_{status}": model for status, model in ok.items()}
    for status in sorted(set(errors) | (set() if public else {401})):
        codes[f"HTTP_{status}"] = (ErrorOut, ERROR_TEXT.get(status, "error"))

    def decorate(view: Callable) -> Callable:
        if body_optional:
            OPTIONAL_BODIES.add(view.__name__)
        return api.validate(
            json=body,
            query=query,
            resp=Response(**codes),
            tags=list(tags),
            security={} if public else None,
            skip_validation=True,  # app.schemas.parse validates, keeping our error shapes
            operation_id=view.__name__,
        )(view)

    return decorate


def _patch(spec: dict[str, Any]) -> dict[str, Any]:
    """What spectree cannot say by itself: the CSV upload body and the
    Retry-After header of 429 answers."""
    spec = copy.deepcopy(spec)
    for path, methods in spec["paths"].items():
        for op in methods.values():
            if op["operationId"] in OPTIONAL_BODIES:
                op["requestBody"]["required"] = False
            if "429" in op["responses"]:
                op["responses"]["429"]["headers"] = {"Retry-After": {
                    "description": "seconds until the limit's window ends",
                    "required": True, "schema": {"type": "integer", "minimum": 1}}}
            if path == "/api/clientes/import":
                op["requestBody"] = {"required": True, "content": {
                    "text/csv": {"schema": {"type": "string"}, "example":
                                 "nombre,telefono,email\nAna Torres,+51 900 000 001,ana@x.pe\n"},
                    "multipart/form-data": {"schema": {
                        "type": "object", "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}}}},
                }}
    return spec


def openapi_document() -> dict[str, Any]:
    """The document for the current app, built once per process."""
    ext = current_app.extensions
    if "albru_openapi" not in ext:
        ext["albru_openapi"] = _patch(api.spec)
    return ext["albru_openapi"]


docs = Blueprint("contract", __name__)

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>ALBRU API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body></html>
"""
# an external file, not an inline script: the page's CSP allows only 'self'
DOCS_INIT = """window.ui = SwaggerUIBundle({
  url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  persistAuthorization: false, tryItOutEnabled: false
});
"""


@docs.get("/api/openapi.json")
def openapi_json():
    return jsonify(openapi_document())


@docs.get("/api/docs")
@docs.get("/api/docs/")
def docs_page():
    return DOCS_PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}


@docs.get("/api/docs/init.js")
def docs_init():
    return DOCS_INIT, 200, {"Content-Type": "text/javascript; charset=utf-8"}


@docs.get("/api/docs/assets/<path:name>")
def docs_asset(name: str):
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(str(swagger_ui_path), name, max_age=3600)


def register(app: Flask) -> None:
    app.register_blueprint(docs)
