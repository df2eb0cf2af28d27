"""What surrounds the contract: rate limits shared by every web process (in
Redis), CORS for the configured origins only (REST and Socket.IO), security
headers on every answer, forged tokens refused, and a production Flower that
will not start without a login."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests
import socketio

from core.cache import make_redis
from core.ratelimit import RateLimited, RateLimiter
from core.settings import Settings, SettingsError, check_flower_auth
from harness.stack import Stack
from tests.conftest import backends

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = "http://localhost:5174"  # FRONTEND_URL's default: the test stack's only origin
EVIL = "https://evil.example"
LIMITS = {"RATE_LIMIT_LOGIN": "3/minute", "RATE_LIMIT_START": "2/minute",
          "RATE_LIMIT_HEARTBEAT": "4/minute"}


# ------------------------------------------------------------- rate limits


@pytest.fixture(scope="module")
def limited(stack, tmp_path_factory):
    """Two web processes with low limits and one KEY_PREFIX: the counters must be
    shared, so a client cannot get twice the limit by hitting both."""
    prefix = f"albru-rl-{os.getpid()}"
    webs = []
    for n in range(2):
        # a long SESSION_TIMEOUT: a slow machine must not expire the session mid-test
        s = Stack(backends(), Path(tmp_path_factory.mktemp(f"limited{n}")), KEY_PREFIX=prefix,
                  JWT_SECRET=stack.env["JWT_SECRET"], SESSION_TIMEOUT="120", **LIMITS)
        s.start_web()
        webs.append(s)
    for s in webs:
        s.wait_live()
    yield [s.base_url for s in webs]
    for s in webs:
        s.stop()


def assert_limited(r) -> int:
    assert r.status_code == 429, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"] == "rate_limited" and body["message"], body
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60 and body["retry_after"] == retry
    return retry


@pytest.mark.stack
def test_login_limit_is_per_username_and_shared_by_the_web_processes(factory, limited):
    user, other = factory.asesor(), factory.asesor()
    wrong = {"username": user.username, "password": "wrong-pass"}
    answers = [requests.post(f"{limited[n % 2]}/api/auth/login", json=wrong, timeout=10)
               for n in range(3)]
    assert [r.status_code for r in answers] == [401, 401, 401]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    for base in limited:  # the 4th attempt, on either process: refused
        assert_limited(requests.post(f"{base}/api/auth/login", json=wrong, timeout=10))
    # even the right password waits: that is the point against guessing
    assert_limited(requests.post(f"{limited[0]}/api/auth/login", timeout=10,
                                 json={"username": user.username, "password": "secret-pass"}))
    # another account from the same address is not affected
    ok = requests.post(f"{limited[1]}/api/auth/login", timeout=10,
                       json={"username": other.username, "password": "secret-pass"})
    assert ok.status_code == 200, ok.text


@pytest.mark.stack
def test_start_and_heartbeat_limits_are_per_advisor(factory, limited):
    a, b = factory.asesor(), factory.asesor()
    ta, tb = factory.token(a), factory.token(b)
    clients = [factory.cliente("derivado", a.id) for _ in range(3)]

    def post(n, path, token, body):
        return requests.post(f"{limited[n % 2]}{path}", json=body, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})

    assert post(0, "/api/sessions/start", ta, {"cliente_id": clients[0].id}).status_code == 201
    assert post(1, "/api/sessions/start", ta, {"cliente_id": clients[1].id}).status_code == 201
    before = factory.snapshot(clients[2].id)
    assert_limited(post(0, "/api/sessions/start", ta, {"cliente_id": clients[2].id}))
    assert factory.snapshot(clients[2].id) == before  # refused before anything changed
    mine = factory.cliente("derivado", b.id)
    assert post(1, "/api/sessions/start", tb, {"cliente_id": mine.id}).status_code == 201

    for n in range(4):
        r = post(n, "/api/sessions/heartbeat", ta, {"cliente_id": clients[0].id})
        assert r.status_code == 200, r.text
    assert_limited(post(1, "/api/sessions/heartbeat", ta, {"cliente_id": clients[0].id}))
    ws = socketio.Client(reconnection=False)  # the socket heartbeat shares the counter
    ws.connect(limited[0], auth={"token": ta}, transports=["websocket"], wait_timeout=10)
    try:
        ack = ws.call("heartbeat", {"cliente_id": clients[0].id}, timeout=10)
    finally:
        ws.disconnect()
    assert ack["error"] == "rate_limited" and 1 <= ack["retry_after"] <= 60, ack
    [sess] = factory.sessions_of(clients[0].id)
    assert sess.heartbeats == 4  # the refused heartbeats did not count
    r = post(0, "/api/sessions/heartbeat", tb, {"cliente_id": mine.id})
    assert r.status_code == 200, r.text
    for token, c in ((ta, clients[0]), (ta, clients[1]), (tb, mine)):  # end is not limited
        r = post(0, "/api/sessions/end", token, {"cliente_id": c.id, "resultado": "cerrado"})
        assert r.status_code == 200, r.text


def test_default_limits_leave_room_for_heartbeats_every_30_seconds():
    s = Settings.from_env({}, dotenv=False)
    count, window = s.rate_limit("heartbeat")
    assert count / window >= 10 * (1 / 30)  # ten tabs of one advisor, each every 30 s
    assert s.rate_limit("login") == (10, 60)
    off = Settings.from_env({"RATE_LIMIT_START": "off"}, dotenv=False)
    assert off.rate_limit("start") is None
    with pytest.raises(SettingsError, match="RATE_LIMIT_LOGIN"):
        Settings.from_env({"RATE_LIMIT_LOGIN": "lots"}, dotenv=False)


def test_limiter_counts_in_redis_and_fails_open_when_redis_is_down(rds, caplog):
    live = RateLimiter(redis.Redis.from_url(backends().redis_url), f"rl-unit-{os.getpid()}")
    assert live.hit("x", "k", (2, 60))[0] == 1
    assert live.hit("x", "k", (2, 60))[0] == 0
    with pytest.raises(RateLimited) as exc:
        live.hit("x", "k", (2, 60))
    assert 1 <= int(exc.value.headers["Retry-After"]) <= 60
    assert live.hit("x", "other", (2, 60))[0] == 1
    assert live.hit("x", "k", None) == (-1, 0)  # a limit set to off

    down = RateLimiter(make_redis("redis://127.0.0.1:1/0"), "rl-down")  # the app's client
    with caplog.at_level(logging.WARNING, logger="app.ratelimit"):
        started = time.perf_counter()
        for _ in range(5):
            assert down.hit("login", "k", (1, 60)) == (-1, 0)
        assert time.perf_counter() - started < 30  # refused connections do not hang requests
    warnings = [r for r in caplog.records if "not enforced" in r.getMessage()]
    assert len(warnings) == 1  # logged once a minute, not once a request


# ------------------------------------------------------------ CORS, headers


def test_preflight_is_answered_for_allowed_origins_only(api):
    ask = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization, content-type"}
    ok = api.call("OPTIONS", "/api/sessions/heartbeat", headers={"Origin": ALLOWED, **ask})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    evil = api.call("OPTIONS", "/api/sessions/heartbeat", headers={"Origin": EVIL, **ask})
    assert evil.status_code == 204
    assert not any(h.lower().startswith("access-control-allow") for h in evil.headers)


def test_answers_carry_cors_for_allowed_origins_and_security_headers_always(factory, api):
    token = factory.token(factory.gtr())
    for path, want in (("/api/health?live=1", 200), ("/api/auth/me", 200), ("/api/nope", 404),
                       ("/api/clientes/abc", 404), ("/api/openapi.json", 200)):
        good = api.get(path, token, headers={"Origin": ALLOWED})
        bad = api.get(path, token, headers={"Origin": EVIL})
        for r in (good, bad):
            assert r.status_code == want, (path, r.text)
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["Referrer-Policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
            assert "Strict-Transport-Security" not in r.headers  # not configured in tests
            assert "Origin" in r.headers["Vary"]
        assert good.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert "Retry-After" in good.headers["Access-Control-Expose-Headers"]
        assert "Access-Control-Allow-Origin" not in bad.headers
    r = api.post("/api/auth/login", json={"username": "x"})
    assert r.status_code == 422 and r.headers["Cache-Control"] == "no-store"


def test_hsts_only_when_configured():
    from app import create_app

    base = {"APP_ENV": "test", "DATABASE_URL": backends().database_url,
            "REDIS_URL": backends().redis_url}
    plain = create_app(Settings.from_env(base, dotenv=False)).test_client()
    assert "Strict-Transport-Security" not in plain.get("/api/health?live=1").headers
    hsts = create_app(Settings.from_env({**base, "HSTS_SECONDS": "600"}, dotenv=False))
    r = hsts.test_client().get("/api/health?live=1")
    assert r.headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    prod = Settings.from_env({**base, "APP_ENV": "production", "JWT_SECRET": "k" * 40},
                             dotenv=False)
    assert prod.hsts_seconds == 31_536_000


def test_cors_origins_setting_drives_rest_and_socketio():
    s = Settings.from_env({"APP_ENV": "test", "CORS_ORIGINS": "https://crm.example, "
                           "https://gtr.example/", "FRONTEND_URL": "http://x"}, dotenv=False)
    assert s.cors_origins == ("https://crm.example", "https://gtr.example")
    dev = Settings.from_env({"FRONTEND_URL": "https://crm.example"}, dotenv=False)
    assert "https://crm.example" in dev.cors_origins and "http://localhost:5173" in dev.cors_origins
    assert Settings.from_env({"APP_ENV": "test"}, dotenv=False).cors_origins == (ALLOWED,)


@pytest.mark.stack
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socket_from_another_origin_is_refused(factory, stack, transport):
    """The browser's Origin decides, with the same list as REST's CORS."""
    token = factory.token(factory.asesor())

    def client(origin: str) -> socketio.Client:
        # websocket-client adds its own Origin header unless told which to send
        return socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})

    def headers(origin: str) -> dict[str, str]:
        return {"Origin": origin} if transport == "polling" else {}

    bad = client(EVIL)
    with pytest.raises(socketio.exceptions.ConnectionError):
        bad.connect(stack.base_url, auth={"token": token}, headers=headers(EVIL),
                    transports=[transport], wait_timeout=10)
    good = client(ALLOWED)
    good.connect(stack.base_url, auth={"token": token}, headers=headers(ALLOWED),
                 transports=[transport], wait_timeout=10)
    assert good.connected
    good.disconnect()


# ------------------------------------------------------------ forged tokens


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(real: str) -> dict[str, str]:
    header, payload, signature = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raised = {**claims, "role": "gtr"}
    return {
        "alg-none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(raised)}.",
        "alg-none-no-dot": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(raised)}",
        "tampered-payload": f"{header}.{_b64(raised)}.{signature}",
        "tampered-sub": f"{header}.{_b64({**claims, 'sub': str(int(claims['sub']) + 1)})}"
                        f".{signature}",
        "hs512-header": f"{_b64({'alg': 'HS512', 'typ': 'JWT'})}.{payload}.{signature}",
        "truncated-signature": f"{header}.{payload}.{signature[:-4]}",
    }


@pytest.mark.stack
def test_forged_tokens_are_refused_on_rest_and_on_socket_connect(factory, api, stack):
    user = factory.asesor()
    real = factory.token(user)
    assert api.get("/api/auth/me", real).status_code == 200
    for kind, token in forged_tokens(real).items():
        for path in ("/api/auth/me", "/api/asesores"):
            r = api.get(path, token)
            assert r.status_code == 401, (kind, path, r.text)
            assert r.json()["error"] == "invalid_token", (kind, r.text)
        client = socketio.Client(reconnection=False)
        seen: list = []
        client.on("connect_error", lambda data=None, seen=seen: seen.append(data))
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(stack.base_url, auth={"token": token}, transports=["websocket"],
                           wait_timeout=10)
        assert not client.connected and "invalid_token" in str(seen), (kind, seen)


# ------------------------------------------------------------------- Flower


def test_flower_auth_is_required_in_production_only():
    prod = {"APP_ENV": "production"}
    flower = ["celery", "-A", "tasks.worker", "flower"]
    for env, argv in [(prod, flower),
                      ({**prod, "FLOWER_BASIC_AUTH": "admin:"}, flower),
                      ({**prod, "FLOWER_BASIC_AUTH": "admin"}, flower),
                      ({**prod, "FLOWER_PASSWORD": "s3cret"}, flower),  # Flower ignores it
                      (prod, flower + ["--basic-auth=admin:"])]:
        with pytest.raises(SettingsError, match="FLOWER_BASIC_AUTH"):
            check_flower_auth(env, argv)
    check_flower_auth({**prod, "FLOWER_BASIC_AUTH": "admin:s3cret"}, flower)
    check_flower_auth(prod, flower + ["--basic-auth=admin:s3cret"])
    check_flower_auth({**prod, "FLOWER_AUTH": ".*@example.com"}, flower)
    check_flower_auth({}, flower)  # development: make run's Flower may stay open


@pytest.mark.stack
def test_production_flower_without_a_login_refuses_to_start():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLOWER_", "JWT_", "DATABASE_", "REDIS_"))}
    env.update({"APP_ENV": "production", "JWT_SECRET": "s" * 40, "DOTENV_PATH": "/nonexistent",
                "DATABASE_URL": "mysql://u:p@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1/0"})
    done = subprocess.run([sys.executable, "-m", "celery", "-A", "tasks.worker", "flower",
                           "--port=1"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "FLOWER_BASIC_AUTH" in done.stdout + done.stderr


@pytest.mark.parametrize("hops", [0, 1])
def test_the_login_limit_follows_the_client_behind_a_trusted_proxy(factory, hops):
    """Behind nginx (PROXY_HOPS=1) every request comes from the proxy: the limit
    must count the forwarded client address. Without a trusted proxy, a client
    cannot escape the limit by sending its own X-Forwarded-For."""
    from app import create_app

    settings = Settings.from_env({
        "APP_ENV": "test", "DATABASE_URL": backends().database_url,
        "REDIS_URL": backends().redis_url, "KEY_PREFIX": f"albru-proxy-{os.getpid()}-{hops}",
        "RATE_LIMIT_LOGIN": "2/minute", "PROXY_HOPS": str(hops),
        "DOTENV_PATH": "/nonexistent"}, dotenv=False)
    client = create_app(settings).test_client()
    user = factory.asesor()
    wrong = {"username": user.username, "password": "wrong-pass"}

    def login(forwarded_for: str) -> int:
        return client.post("/api/auth/login", json=wrong,
                           headers={"X-Forwarded-For": forwarded_for}).status_code

    assert [login("203.0.113.1"), login("203.0.113.1")] == [401, 401]
    assert login("203.0.113.1") == 429
    assert login("198.51.100.7") == (401 if hops else 429)
