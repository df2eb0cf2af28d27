"""Typed settings from the environment (and `.env`), checked at start.

Variable names and units follow the seed, so an existing `.env` works:
SESSION_TIMEOUT in seconds, WORKER_INTERVAL in milliseconds, PORT=3001.
DATABASE_URL / REDIS_URL may replace the DB_* / REDIS_* parts. A production
process (APP_ENV or NODE_ENV = production) refuses to start without secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DEV_DATABASE_URL = f"sqlite:///{ROOT / 'instance' / 'albru.db'}"
DEV_REDIS_URL = "redis://127.0.0.1:6379/0"
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - refused in production
ASYNC_MODES = ("eventlet", "gevent", "threading")


class SettingsError(RuntimeError):
    """A setting is missing or wrong: the process must not start."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    host: str = "0.0.0.0"  # noqa: S104 - a server listens on all interfaces by design
    port: int = 3001
    database_url: str = ""
    redis_url: str = ""
    session_timeout: float = 600.0
    worker_interval_ms: int = 30_000
    heartbeat_interval: int = 30
    frontend_urls: tuple[str, ...] = ("http://localhost:5174",)
    jwt_secret: str = DEV_JWT_SECRET
    jwt_expires: int = 8 * 3600
    async_mode: str = "eventlet"
    socketio_channel: str = "albru-socketio"
    ping_interval: int = 25
    ping_timeout: int = 60
    key_prefix: str = "albru"
    timezone: str = "UTC"
    log_level: str = "INFO"
    demo_password: str = "demo1234"  # noqa: S105 - demo data only
    db_pool_size: int = 10
    event_log_max_len: int = 100_000  # events kept for resume ...
    event_log_max_age: float = 86_400.0  # ... and for at most this many seconds
    extend_push_interval: float = 5.0  # seconds between SESSIONS_EXTENDED pushes; 0: off
    bench_endpoints: bool = False  # /api/bench/* (no-op and bare emit) for `make bench` only

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def worker_interval(self) -> float:
        return self.worker_interval_ms / 1000.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        if environ is None:
            if dotenv:
                from dotenv import load_dotenv

                load_dotenv(os.environ.get("DOTENV_PATH", ".env"), override=False)
            environ = os.environ
        env = environ
        mode = (env.get("APP_ENV") or env.get("NODE_ENV") or "development").strip().lower()
        if mode not in ("development", "production", "test"):
            raise SettingsError(f"APP_ENV must be development, production or test, got {mode!r}")
        production = mode == "production"

        database_url = env.get("DATABASE_URL", "").strip()
        if not database_url and env.get("DB_HOST", "").strip():
            password = env.get("DB_PASSWORD", "")
            if production and not password:
                raise SettingsError("DB_PASSWORD is required in production")
            database_url = (
                f"mysql+pymysql://{quote(env.get('DB_USER', 'albru'), safe='')}:"
                f"{quote(password, safe='')}@{env['DB_HOST'].strip()}:"
                f"{_int(env, 'DB_PORT', 3306)}/{env.get('DB_NAME', 'albru_crm')}?charset=utf8mb4"
            )
        if database_url.startswith("mysql://"):
            database_url = "mysql+pymysql://" + database_url[len("mysql://"):]

        redis_url = env.get("REDIS_URL", "").strip()
        if not redis_url and env.get("REDIS_HOST", "").strip():
            password = env.get("REDIS_PASSWORD", "")
            auth = f":{quote(password, safe='')}@" if password else ""
            redis_url = (
                f"redis://{auth}{env['REDIS_HOST'].strip()}:{_int(env, 'REDIS_PORT', 6379)}"
                f"/{_int(env, 'REDIS_DB', 0, minimum=0)}"
            )
        if production and not (database_url and redis_url):
            raise SettingsError(
                "production needs a database and Redis: set DATABASE_URL or DB_HOST, "
                "and REDIS_URL or REDIS_HOST"
            )
        database_url = database_url or DEV_DATABASE_URL
        redis_url = redis_url or DEV_REDIS_URL

        jwt_secret = env.get("JWT_SECRET", "").strip()
        if production and (not jwt_secret or jwt_secret == DEV_JWT_SECRET or len(jwt_secret) < 32):
            raise SettingsError("JWT_SECRET (at least 32 characters) is required in production")

        async_mode = env.get("ASYNC_MODE", "eventlet").strip().lower()
        if async_mode not in ASYNC_MODES:
            raise SettingsError(f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}")

        frontend = tuple(u.strip().rstrip("/") for u in
                         env.get("FRONTEND_URL", "http://localhost:5174").split(",") if u.strip())

        timezone = env.get("TIMEZONE", "UTC").strip() or "UTC"
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(timezone)
        except Exception:  # noqa: BLE001
            raise SettingsError(f"TIMEZONE {timezone!r} is not a known time zone") from None

        bench_endpoints = env.get("BENCH_ENDPOINTS", "").strip().lower() in ("1", "true", "yes")
        if production and bench_endpoints:
            raise SettingsError("BENCH_ENDPOINTS is for benchmarks only, never in production")

        return cls(
            env=mode,
            host=env.get("HOST", "0.0.0.0").strip(),  # noqa: S104
            port=_int(env, "PORT", 3001),
            database_url=database_url,
            redis_url=redis_url,
            session_timeout=_float(env, "SESSION_TIMEOUT", 600.0, minimum=0.5),
            worker_interval_ms=_int(env, "WORKER_INTERVAL", 30_000, minimum=100),
            heartbeat_interval=_int(env, "HEARTBEAT_INTERVAL", 30),
            frontend_urls=frontend,
            jwt_secret=jwt_secret or DEV_JWT_SECRET,
            jwt_expires=_int(env, "JWT_EXPIRES", 8 * 3600, minimum=60),
            async_mode=async_mode,
            socketio_channel=env.get("SOCKETIO_CHANNEL", "albru-socketio").strip(),
            ping_interval=_int(env, "SOCKETIO_PING_INTERVAL", 25),
            ping_timeout=_int(env, "SOCKETIO_PING_TIMEOUT", 60),
            key_prefix=env.get("KEY_PREFIX", "albru").strip() or "albru",
            timezone=timezone,
            log_level=env.get("LOG_LEVEL", "INFO").strip().upper(),
            demo_password=env.get("DEMO_PASSWORD", "demo1234"),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10),
            event_log_max_len=_int(env, "EVENT_LOG_MAX_LEN", 100_000, minimum=100),
            event_log_max_age=_float(env, "EVENT_LOG_MAX_AGE", 86_400.0, minimum=60.0),
            extend_push_interval=_float(env, "EXTEND_PUSH_INTERVAL", 5.0, minimum=0.0),
            bench_endpoints=bench_endpoints,
        )
