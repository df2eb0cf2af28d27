"""Typed settings from the environment (and `.env`), parsed once and checked at start.

One line per setting (pydantic-settings). Variable names and units follow the
seed, so an existing `.env` works: SESSION_TIMEOUT in seconds, WORKER_INTERVAL
in milliseconds, PORT=3001. DATABASE_URL / REDIS_URL may replace the DB_* /
REDIS_* parts. A production process (APP_ENV or NODE_ENV = production) refuses
to start without its secrets. docs/configuration.md lists every variable."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_DATABASE_URL = f"sqlite:///{ROOT / 'instance' / 'albru.db'}"
DEV_REDIS_URL = "redis://127.0.0.1:6379/0"
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - refused in production
#: Browser origins a development server accepts besides FRONTEND_URL (Vite, CRA).
DEV_ORIGINS = ("http://localhost:5173", "http://localhost:5174", "http://localhost:3000",
               "http://127.0.0.1:5173", "http://127.0.0.1:5174", "http://127.0.0.1:3000")
RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
RATE_LIMITS = ("login", "heartbeat", "start")


class SettingsError(RuntimeError):
    """A setting is missing or wrong: the process must not start."""


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _rate(value: Any) -> tuple[int, int] | None:
    """`N/second|minute|hour|day` -> (N, window seconds); `off` or `0` -> None (no limit)."""
    if value is None or isinstance(value, tuple):
        return value
    raw = str(value).strip().lower()
    if raw in ("off", "0", "none"):
        return None
    count, _, period = raw.partition("/")
    period = period.strip().rstrip("s") or "minute"
    n = int(count) if count.strip().isdigit() else 0
    if n < 1 or period not in RATE_PERIODS:
        raise ValueError(f"must look like 10/minute (or off), got {raw!r}")
    return n, RATE_PERIODS[period]


def _where(url: str) -> str:
    """A URL without its credentials or options: scheme://host:port/path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _zone(value: Any) -> str:
    name = str(value).strip() or "UTC"
    try:
        ZoneInfo(name)
    except Exception:  # noqa: BLE001 - any failure means an unknown zone
        raise ValueError(f"{name!r} is not a known time zone") from None
    return name


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(u.strip().rstrip("/") for u in raw.split(",") if u.strip())


def var(*names: str, default: Any, **kw: Any) -> Any:
    """A field read from the variable(s) `names` (the first one set wins)."""
    alias = names[0] if len(names) == 1 else AliasChoices(*names)
    return Field(default, validation_alias=alias, **kw)


Lower = BeforeValidator(_lower)
Rate = Annotated[tuple[int, int] | None, BeforeValidator(_rate)]
Flag = Annotated[bool, BeforeValidator(lambda v: _lower(v) in ("1", "true", "yes", True))]


class Settings(BaseSettings):
    """Every setting of every process (web, worker, beat, CLI)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    env: Annotated[Literal["development", "production", "test"], Lower] = var(
        "APP_ENV", "NODE_ENV", default="development")
    host: str = var("HOST", default="0.0.0.0")  # noqa: S104 - a server listens on all interfaces
    port: int = var("PORT", default=3001, ge=1, le=65535)
    database_url_given: str = var("DATABASE_URL", default="")
    db_host: str = var("DB_HOST", default="")
    db_port: int = var("DB_PORT", default=3306, ge=1, le=65535)
    db_user: str = var("DB_USER", default="albru")
    db_password: str = var("DB_PASSWORD", default="")
    db_name: str = var("DB_NAME", default="albru_crm")
    db_pool_size: int = var("DB_POOL_SIZE", default=10, ge=1)
    #: TLS to MySQL (core.db.mysql_tls): auto = disabled on loopback, preferred elsewhere
    db_tls: Annotated[Literal["auto", "disabled", "preferred", "required", "verify_ca",
                              "verify_identity"], Lower] = var("DB_TLS", default="auto")
    db_tls_ca: str = var("DB_TLS_CA", default="")
    redis_url_given: str = var("REDIS_URL", default="")
    redis_host: str = var("REDIS_HOST", default="")
    redis_port: int = var("REDIS_PORT", default=6379, ge=1, le=65535)
    redis_password: str = var("REDIS_PASSWORD", default="")
    redis_db: int = var("REDIS_DB", default=0, ge=0)
    #: seconds a process leaves Redis alone after a failure (core.breaker)
    redis_retry_after: float = var("REDIS_RETRY_AFTER", default=1.0, ge=0.1)
    session_timeout: float = var("SESSION_TIMEOUT", default=600.0, ge=0.5)
    worker_interval_ms: int = var("WORKER_INTERVAL", default=30_000, ge=100)
    heartbeat_interval: int = var("HEARTBEAT_INTERVAL", default=30, ge=1)
    idle_after: float = var("IDLE_AFTER", default=0.0, ge=0)  # s without input; 0: off
    frontend_url: str = var("FRONTEND_URL", default="http://localhost:5174")
    cors_origins_given: str = var("CORS_ORIGINS", default="")
    jwt_secret: str = var("JWT_SECRET", default=DEV_JWT_SECRET)
    jwt_expires: int = var("JWT_EXPIRES", default=8 * 3600, ge=60)
    async_mode: Annotated[Literal["eventlet", "gevent", "threading"], Lower] = var(
        "ASYNC_MODE", default="gevent")  # measured: docs/performance.md
    #: empty (the default): derived from the deployment (see `socketio_channel`)
    socketio_channel_given: str = var("SOCKETIO_CHANNEL", default="")
    ping_interval: int = var("SOCKETIO_PING_INTERVAL", default=25, ge=1)
    ping_timeout: int = var("SOCKETIO_PING_TIMEOUT", default=60, ge=1)
    key_prefix_given: str = var("KEY_PREFIX", default="")
    timezone: Annotated[str, BeforeValidator(_zone)] = var("TIMEZONE", default="UTC")
    presence_idle: float = var("PRESENCE_IDLE", default=300.0, ge=1)
    log_level: Annotated[str, BeforeValidator(lambda v: str(v).strip().upper())] = var(
        "LOG_LEVEL", default="INFO")
    log_format_given: Annotated[Literal["", "json", "text"], Lower] = var("LOG_FORMAT",
                                                                          default="")
    demo_password: str = var("DEMO_PASSWORD", default="demo1234")
    event_log_max_len: int = var("EVENT_LOG_MAX_LEN", default=100_000, ge=100)
    event_log_max_age: float = var("EVENT_LOG_MAX_AGE", default=86_400.0, ge=60)
    #: seconds between the sweep's full Redis resync while Redis keeps its data
    #: (a Redis that lost it is resynced at the next sweep); 0: every sweep
    cache_resync_interval: float = var("CACHE_RESYNC_INTERVAL", default=300.0, ge=0)
    #: seconds between SESSIONS_EXTENDED pushes; 0: off
    extend_push_interval: float = var("EXTEND_PUSH_INTERVAL", default=5.0, ge=0)
    #: timeouts due this soon (s) are countdown tasks; later ones wait in Redis (core/timers.py)
    timer_horizon: float = var("TIMER_HORIZON", default=5.0, ge=1.0)
    #: seconds between two drains of that Redis due-queue (beat sends albru.drain_timers)
    timer_drain_interval: float = var("TIMER_DRAIN_INTERVAL", default=1.0, ge=0.1)
    #: reverse proxies in front (nginx: 1) whose X-Forwarded-* to trust
    proxy_hops: int = var("PROXY_HOPS", default=0, ge=0)
    hsts_seconds_given: int | None = var("HSTS_SECONDS", default=None, ge=0)
    rate_limit_login: Rate = var("RATE_LIMIT_LOGIN", default="10/minute")
    rate_limit_heartbeat: Rate = var("RATE_LIMIT_HEARTBEAT", default="600/minute")
    rate_limit_start: Rate = var("RATE_LIMIT_START", default="300/minute")
    #: /api/bench/* (no-op and bare emit) for `make bench` only; refused in production
    bench_endpoints: Flag = var("BENCH_ENDPOINTS", default=False)
    #: APP_ENV=test only: hold a session transition open this long before COMMIT (app/faults.py)
    fault_transition_delay: float = var("FAULT_TRANSITION_DELAY", default=0.0, ge=0)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        **_others: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what `from_env` passes: the process environment is read in one
        place, so a test's mapping is never mixed with the real environment."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 dotenv: bool = True) -> Settings:
        """The settings from `environ` (default: the process environment, after
        loading `.env` or DOTENV_PATH without overriding what is set). An empty
        variable counts as unset. Raises SettingsError naming the variable."""
        if environ is None:
            if dotenv:
                from dotenv import load_dotenv

                load_dotenv(os.environ.get("DOTENV_PATH", ".env"), override=False)
            environ = os.environ
        known = variables()
        values = {k.upper(): v for k, v in environ.items()
                  if k.upper() in known and str(v).strip() != ""}
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError("; ".join(_explain(e, values) for e in exc.errors())) from None

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        """What a production process must have, and what only tests may use."""
        production = self.env == "production"
        if production and self.db_host and not self.database_url_given and not self.db_password:
            raise ValueError("DB_PASSWORD is required in production")
        if (production and self.redis_host and not self.redis_url_given
                and not self.redis_password):
            raise ValueError("REDIS_PASSWORD is required in production")
        if production and not ((self.database_url_given or self.db_host)
                               and (self.redis_url_given or self.redis_host)):
            raise ValueError("production needs a database and Redis: set DATABASE_URL or "
                             "DB_HOST, and REDIS_URL or REDIS_HOST")
        if production and (self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32):
            raise ValueError("JWT_SECRET (at least 32 characters) is required in production")
        if production and self.bench_endpoints:
            raise ValueError("BENCH_ENDPOINTS is for benchmarks only, never in production")
        if self.fault_transition_delay and self.env != "test":
            raise ValueError("FAULT_TRANSITION_DELAY is for fault tests only (APP_ENV=test)")
        return self

    # ------------------------------------------------------------ derived

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def database_url(self) -> str:
        url = self.database_url_given.strip()
        if not url and self.db_host.strip():
            url = (f"mysql+pymysql://{quote(self.db_user, safe='')}:"
                   f"{quote(self.db_password, safe='')}@{self.db_host.strip()}:"
                   f"{self.db_port}/{self.db_name}?charset=utf8mb4")
        if url.startswith("mysql://"):
            url = "mysql+pymysql://" + url[len("mysql://"):]
        return url or DEV_DATABASE_URL

    @property
    def redis_url(self) -> str:
        url = self.redis_url_given.strip()
        if not url and self.redis_host.strip():
            auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
            url = f"redis://{auth}{self.redis_host.strip()}:{self.redis_port}/{self.redis_db}"
        return url or DEV_REDIS_URL

    @property
    def deployment_id(self) -> str:
        """Who this deployment is: a digest of where its truth lives (the
        database: driver, host, port, name) and of its Redis (host, port, db
        number), passwords and options left out. Two deployments sharing one
        Redis server get different default channels and key prefixes, and each
        refuses the other's pushes (app.realtime) even on one explicit channel."""
        return "d" + hashlib.sha256(
            f"{_where(self.database_url)}|{_where(self.redis_url)}".encode()).hexdigest()[:12]

    @property
    def socketio_channel(self) -> str:
        return self.socketio_channel_given.strip() or f"albru-socketio-{self.deployment_id}"

    @property
    def key_prefix(self) -> str:
        return self.key_prefix_given.strip() or f"albru-{self.deployment_id}"

    @property
    def frontend_urls(self) -> tuple[str, ...]:
        return _origins(self.frontend_url)

    @property
    def cors_origins(self) -> tuple[str, ...]:
        """REST CORS and Socket.IO accept the same browser origins: CORS_ORIGINS
        when set, else FRONTEND_URL; a development server also takes localhost dev ports."""
        cors = _origins(self.cors_origins_given) or self.frontend_urls
        if self.env == "development":
            cors = tuple(dict.fromkeys(cors + DEV_ORIGINS))
        return cors

    @property
    def log_format(self) -> str:
        return self.log_format_given or ("json" if self.production else "text")

    @property
    def hsts_seconds(self) -> int:
        if self.hsts_seconds_given is not None:
            return self.hsts_seconds_given
        return 31_536_000 if self.production else 0

    def rate_limit(self, name: str) -> tuple[int, int] | None:
        """(requests, window seconds) of the limit `name`, or None when it is off."""
        return getattr(self, f"rate_limit_{name}") if name in RATE_LIMITS else None

    @property
    def worker_interval(self) -> float:
        return self.worker_interval_ms / 1000.0

    @property
    def fallback_tick(self) -> float:
        """How often a web process checks the broker and, if it is down and this
        process holds the lease, times sessions out from the database: half of
        WORKER_INTERVAL, at most 1 s, so a timeout is never later than that."""
        return min(1.0, self.worker_interval / 2)


def _explain(error: dict[str, Any], values: Mapping[str, Any]) -> str:
    """One problem in words: `SESSION_TIMEOUT must be a number, got 'ten'`."""
    name = ".".join(map(str, error["loc"]))
    if not name:  # a rule across settings (_refuse_unsafe)
        return error["msg"].removeprefix("Value error, ")
    got = f", got {values[name]!r}" if name in values else ""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("int_parsing", "int_from_float"):
        return f"{name} must be a whole number{got}"
    if kind == "float_parsing":
        return f"{name} must be a number{got}"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = "at least" if kind == "greater_than_equal" else "at most"
        return f"{name} must be {bound} {ctx.get('ge', ctx.get('le'))}{got}"
    if kind == "literal_error":
        return f"{name} must be one of {ctx.get('expected')}{got}"
    return f"{name} {error['msg'].removeprefix('Value error, ')}"


def variables() -> set[str]:
    """Every environment variable Settings reads (docs/configuration.md, env.example)."""
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names.update(alias.choices if isinstance(alias, AliasChoices) else [alias])
    return {str(n) for n in names}


def check_flower_auth(environ: Mapping[str, str], argv: list[str]) -> None:
    """A production Flower must ask for a login: FLOWER_BASIC_AUTH (user:password)
    or --basic-auth=user:password (what compose and `make run` pass, built from
    FLOWER_USER / FLOWER_PASSWORD), or Flower's OAuth (--auth / FLOWER_AUTH).
    FLOWER_PASSWORD alone is not enough: Flower itself does not read it."""
    mode = (environ.get("APP_ENV") or environ.get("NODE_ENV") or "development").strip().lower()
    if mode != "production":
        return

    def basic_ok(value: str) -> bool:
        user, sep, password = value.strip().partition(":")
        return bool(user and sep and password)

    options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    if basic_ok(options.get("basic-auth") or options.get("basic_auth") or "") or basic_ok(
            environ.get("FLOWER_BASIC_AUTH", "")):
        return
    if (options.get("auth") or environ.get("FLOWER_AUTH", "")).strip():
        return
    raise SettingsError("Flower needs a login in production: set FLOWER_BASIC_AUTH=user:password "
                        "(or pass --basic-auth=user:password)")
