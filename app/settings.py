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
LOG_FORMATS = ("json", "text")
#: Browser origins a development server accepts besides FRONTEND_URL (Vite, CRA).
DEV_ORIGINS = ("http://localhost:5173", "http://localhost:5174", "http://localhost:3000",
               "http://127.0.0.1:5173", "http://127.0.0.1:5174", "http://127.0.0.1:3000")
RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
DEFAULT_RATE_LIMITS = {"login": "10/minute", "heartbeat": "600/minute", "start": "300/minute"}


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


def _rate(env: Mapping[str, str], name: str, default: str) -> tuple[int, int] | None:
    """`N/second|minute|hour|day` -> (N, window seconds); `off` or `0` -> None (no limit)."""
    raw = env.get(name, "").strip().lower() or default
    if raw in ("off", "0", "none"):
        return None
    count, _, period = raw.partition("/")
    period = period.strip().rstrip("s") or "minute"
    try:
        n = int(count)
    except ValueError:
        n = 0
    if n < 1 or period not in RATE_PERIODS:
        raise SettingsError(f"{name} must look like 10/minute (or off), got {raw!r}")
    return n, RATE_PERIODS[period]


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(u.strip().rstrip("/") for u in raw.split(",") if u.strip())


def check_flower_auth(env: Mapping[str, str], argv: list[str]) -> None:
    """A production Flower must ask for a login: FLOWER_BASIC_AUTH (user:password)
    or --basic-auth=user:password (what compose and `make run` pass, built from
    FLOWER_USER / FLOWER_PASSWORD), or Flower's OAuth (--auth / FLOWER_AUTH).
    FLOWER_PASSWORD alone is not enough: Flower itself does not read it."""
    mode = (env.get("APP_ENV") or env.get("NODE_ENV") or "development").strip().lower()
    if mode != "production":
        return

    def basic_ok(value: str) -> bool:
        user, sep, password = value.strip().partition(":")
        return bool(user and sep and password)

    options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    if basic_ok(options.get("basic-auth") or options.get("basic_auth") or "") or basic_ok(
            env.get("FLOWER_BASIC_AUTH", "")):
        return
    if (options.get("auth") or env.get("FLOWER_AUTH", "")).strip():
        return
    raise SettingsError("Flower needs a login in production: set FLOWER_BASIC_AUTH=user:password "
                        "(or pass --basic-auth=user:password)")


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
    async_mode: str = "gevent"  # measured: see README, "Async mode"
    socketio_channel: str = "albru-socketio"
    ping_interval: int = 25
    ping_timeout: int = 60
    key_prefix: str = "albru"
    timezone: str = "UTC"
    log_level: str = "INFO"
    log_format: str = "text"
    demo_password: str = "demo1234"  # noqa: S105 - demo data only
    db_pool_size: int = 10
    event_log_max_len: int = 100_000  # events kept for resume ...
    event_log_max_age: float = 86_400.0  # ... and for at most this many seconds
    extend_push_interval: float = 5.0  # seconds between SESSIONS_EXTENDED pushes; 0: off
    proxy_hops: int = 0  # reverse proxies in front (nginx: 1) whose X-Forwarded-* to trust
    cors_origins: tuple[str, ...] = ("http://localhost:5174",)
    hsts_seconds: int = 0
    #: name -> (requests, window seconds), or None when that limit is off
    rate_limits: Mapping[str, tuple[int, int] | None] | None = None

    def rate_limit(self, name: str) -> tuple[int, int] | None:
        limits = self.rate_limits if self.rate_limits is not None else {}
        return limits.get(name)
    #: seconds a process leaves Redis alone after a failure (core.breaker)
    redis_retry_after: float = 1.0
    bench_endpoints: bool = False  # /api/bench/* (no-op and bare emit) for `make bench` only
    #: APP_ENV=test only: workers hold a session transition open this long before
    #: COMMIT, so a fault test can kill -9 one inside it (app/faults.py)
    fault_transition_delay: float = 0.0

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def worker_interval(self) -> float:
        return self.worker_interval_ms / 1000.0

    @property
    def fallback_tick(self) -> float:
        """How often a web process checks the broker and, if it is down and this
        process holds the lease, times sessions out from the database: half of
        WORKER_INTERVAL, at most 1 s, so a timeout is never later than that."""
        return min(1.0, self.worker_interval / 2)

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
            if production and not password:
                raise SettingsError("REDIS_PASSWORD is required in production")
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

        async_mode = env.get("ASYNC_MODE", "gevent").strip().lower()
        if async_mode not in ASYNC_MODES:
            raise SettingsError(f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}")

        log_format = (env.get("LOG_FORMAT", "").strip().lower()
                      or ("json" if production else "text"))
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")

        frontend = _origins(env.get("FRONTEND_URL", "http://localhost:5174"))
        # REST CORS and Socket.IO accept the same browser origins: CORS_ORIGINS when
        # set, else FRONTEND_URL; a development server also takes localhost dev ports.
        cors = _origins(env.get("CORS_ORIGINS", "")) or frontend
        if mode == "development":
            cors = tuple(dict.fromkeys(cors + DEV_ORIGINS))

        timezone = env.get("TIMEZONE", "UTC").strip() or "UTC"
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(timezone)
        except Exception:  # noqa: BLE001
            raise SettingsError(f"TIMEZONE {timezone!r} is not a known time zone") from None

        bench_endpoints = env.get("BENCH_ENDPOINTS", "").strip().lower() in ("1", "true", "yes")
        if production and bench_endpoints:
            raise SettingsError("BENCH_ENDPOINTS is for benchmarks only, never in production")

        fault_delay = _float(env, "FAULT_TRANSITION_DELAY", 0.0, minimum=0.0)
        if fault_delay and mode != "test":
            raise SettingsError("FAULT_TRANSITION_DELAY is for fault tests only (APP_ENV=test)")

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
            log_format=log_format,
            demo_password=env.get("DEMO_PASSWORD", "demo1234"),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10),
            event_log_max_len=_int(env, "EVENT_LOG_MAX_LEN", 100_000, minimum=100),
            event_log_max_age=_float(env, "EVENT_LOG_MAX_AGE", 86_400.0, minimum=60.0),
            extend_push_interval=_float(env, "EXTEND_PUSH_INTERVAL", 5.0, minimum=0.0),
            proxy_hops=_int(env, "PROXY_HOPS", 0, minimum=0),
            cors_origins=cors,
            hsts_seconds=_int(env, "HSTS_SECONDS", 31_536_000 if production else 0, minimum=0),
            rate_limits={name: _rate(env, f"RATE_LIMIT_{name.upper()}", default)
                         for name, default in DEFAULT_RATE_LIMITS.items()},
            redis_retry_after=_float(env, "REDIS_RETRY_AFTER", 1.0, minimum=0.1),
            bench_endpoints=bench_endpoints,
            fault_transition_delay=fault_delay,
        )
