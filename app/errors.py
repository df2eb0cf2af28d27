"""Every error is JSON: {"error": code, "message": text, ...details}. A client
mistake never becomes a 500, and a 500 never shows a trace."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from domain.errors import DomainError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_body(exc: DomainError) -> tuple[dict, int]:
    """The one error shape, for REST answers and socket acknowledgements alike."""
    return {"error": exc.code, "message": exc.message, **exc.details}, exc.status


def error_response(status: int, code: str, message: str, **details):
    body = {"error": code, "message": message}
    body.update(details)
    return jsonify(body), status


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        data, status = error_body(exc)
        body = jsonify(data)
        body.headers.update(getattr(exc, "headers", None) or {})
        return body, status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        body, status = error_response(status, HTTP_CODES.get(status, "http_error"),
                                      exc.description or "")
        # keep what the exception says besides its HTML body, e.g. the Allow
        # header of a 405 (RFC 9110 requires it; schemathesis found it missing)
        for name, value in exc.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                body.headers[name] = value
        return body, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error (ref %s)", ref)
        return error_response(500, "internal_error", "unexpected server error", ref=ref)
