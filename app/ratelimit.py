"""The HTTP side of rate limiting: the client's address and applying a
configured limit to the current request (counting lives in core.ratelimit)."""

from __future__ import annotations

from flask import g, request

from app.registry import services


def client_ip() -> str:
    """The peer address; behind trusted proxies (PROXY_HOPS) ProxyFix has
    already put the browser's address here."""
    return request.remote_addr or "unknown"


def enforce(name: str, ident: str, *, headers: bool = True,
            renew: tuple[str, int] | None = None) -> bool | None:
    """Apply the configured limit `name` to `ident` in the current request
    (RateLimited past it); with `headers`, the answer says what is left.
    `renew` = (key, ms): a TTL renewed in the same Redis call when within the
    limit (core.ratelimit.RateLimiter.hit_and_renew); returns whether that key
    existed, None when it was not renewed here."""
    svc = services()
    limit = svc.settings.rate_limit(name)
    remaining, _, renewed = svc.limiter.hit_and_renew(name, ident, limit, renew)
    if headers and limit is not None and remaining >= 0:
        g.rate_limit = (limit[0], remaining)  # X-RateLimit-* headers (app.http_policy)
    return renewed
