"""What every HTTP answer carries besides its body: CORS for the configured
browser origins only, and security headers (nosniff, no framing, no referrer,
a CSP that lets the JSON API load nothing and the docs page only its own
files, HSTS when configured).

Socket.IO requests do not pass through here: python-engineio answers them
and checks their Origin with `app.sockets.origin_checker` on the same list."""

from __future__ import annotations

from flask import Flask, Response, g, request

from core.settings import Settings

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
EXPOSED_HEADERS = "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining"
PREFLIGHT_MAX_AGE = "600"

#: The JSON API loads nothing and may not be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The docs page: its own scripts and styles (Swagger UI sets inline styles),
#: inline SVG images, and fetches of the spec and of the API it tries out.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
DOCS_PREFIX = "/api/docs"


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    if not origin:
        return False
    return "*" in allowed or origin.rstrip("/") in allowed


def register(app: Flask, settings: Settings) -> None:
    allowed = settings.cors_origins

    @app.before_request
    def cors_preflight():
        """Answer a browser's preflight before routing or auth run: 204 with the
        CORS headers for an allowed origin, 204 without them otherwise (the
        browser then refuses the real request)."""
        if (request.method == "OPTIONS" and request.headers.get("Origin")
                and request.headers.get("Access-Control-Request-Method")):
            response = Response(status=204)
            if origin_allowed(request.headers["Origin"], allowed):
                response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
                response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
            return response
        return None

    @app.after_request
    def policy_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        response.vary.add("Origin")
        if origin_allowed(origin, allowed):
            response.headers["Access-Control-Allow-Origin"] = origin.rstrip("/")
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        h = response.headers
        if g.get("rate_limit"):
            h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"] = map(str, g.rate_limit)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Content-Security-Policy",
                     DOCS_CSP if request.path.startswith(DOCS_PREFIX) else API_CSP)
        if request.path.startswith("/api/") and not request.path.startswith(DOCS_PREFIX):
            h.setdefault("Cache-Control", "no-store")
        if settings.hsts_seconds:
            h["Strict-Transport-Security"] = f"max-age={settings.hsts_seconds}; includeSubDomains"
        return response
