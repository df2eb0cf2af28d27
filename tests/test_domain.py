"""Pure rules, in-process: states, leases, event routing, settings."""

from __future__ import annotations

import pytest

from core.settings import Settings, SettingsError
from domain import events, lease
from domain.events import Event, rooms_for
from domain.states import Estado, Resultado, asesor_after_end, can_derive, can_start


def test_only_a_derived_client_can_be_started_by_its_advisor_or_anyone_from_the_pool():
    assert can_start("derivado", 7, 7)
    assert can_start("derivado", None, 7)
    assert not can_start("derivado", 8, 7)
    for estado in ("nuevo", "en_gestion", "gestionado", "no_gestionado", "cerrado"):
        assert not can_start(estado, 7, 7)


def test_derivable_states():
    assert {e for e in Estado if can_derive(e)} == {Estado.NUEVO, Estado.DERIVADO,
                                                    Estado.NO_GESTIONADO}


def test_no_gestionado_clears_the_advisor_other_results_keep_it():
    assert asesor_after_end(Resultado.NO_GESTIONADO, 3) is None
    assert asesor_after_end(Resultado.GESTIONADO, 3) == 3
    assert asesor_after_end(Resultado.CERRADO, 3) == 3


def test_timeout_decision_never_expires_before_the_deadline():
    assert lease.decide_timeout(active=True, deadline=100.0, now=99.999).action == "rearm"
    assert lease.decide_timeout(active=True, deadline=100.0, now=100.0).action == "expire"
    assert lease.decide_timeout(active=False, deadline=100.0, now=200.0).action == "noop"
    rearm = lease.decide_timeout(active=True, deadline=100.0, now=90.0)
    assert rearm.delay == pytest.approx(10.0 + lease.REARM_MARGIN)


def test_seconds_left_is_never_negative():
    assert lease.seconds_left(10.0, 12.0) == 0.0
    assert lease.seconds_left(10.0, 7.5) == 2.5


def test_rooms():
    assert rooms_for(Event.CLIENT_IN_GESTION, asesor_id=4) == ["gtr-room", "asesor-4"]
    assert rooms_for(Event.CLIENT_DERIVED, asesor_id=None, pool=True) == ["gtr-room",
                                                                           "asesor-room"]
    assert rooms_for(Event.CLIENT_CREATED, asesor_id=4) == ["gtr-room"]


def test_settings_follow_the_seed_names_and_units():
    s = Settings.from_env({
        "DB_HOST": "db", "DB_PORT": "3307", "DB_USER": "albru", "DB_PASSWORD": "p@ss",
        "DB_NAME": "albru_crm", "REDIS_HOST": "redis", "REDIS_PASSWORD": "r:pw",
        "SESSION_TIMEOUT": "600", "WORKER_INTERVAL": "30000", "PORT": "3001",
        "FRONTEND_URL": "http://localhost:5174",
    })
    assert s.database_url == "mysql+pymysql://albru:p%40ss@db:3307/albru_crm?charset=utf8mb4"
    assert s.redis_url == "redis://:r%3Apw@redis:6379/0"
    assert (s.session_timeout, s.worker_interval, s.port) == (600.0, 30.0, 3001)
    assert s.frontend_urls == ("http://localhost:5174",)


def test_urls_win_over_parts():
    s = Settings.from_env({"DATABASE_URL": "mysql://u:p@h/d", "DB_HOST": "x",
                           "REDIS_URL": "redis://h:1/2"})
    assert s.database_url == "mysql+pymysql://u:p@h/d"
    assert s.redis_url == "redis://h:1/2"


@pytest.mark.parametrize("env, message", [
    ({"APP_ENV": "production", "DATABASE_URL": "mysql://a/b", "REDIS_URL": "redis://r"},
     "JWT_SECRET"),
    ({"NODE_ENV": "production", "JWT_SECRET": "x" * 40}, "production needs a database"),
    ({"APP_ENV": "production", "DB_HOST": "db", "REDIS_URL": "redis://r",
      "JWT_SECRET": "x" * 40}, "DB_PASSWORD"),
    ({"APP_ENV": "production", "DATABASE_URL": "mysql://a/b", "REDIS_HOST": "redis",
      "JWT_SECRET": "x" * 40}, "REDIS_PASSWORD"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ({"SESSION_TIMEOUT": "ten"}, "SESSION_TIMEOUT"),
    ({"WORKER_INTERVAL": "5"}, "WORKER_INTERVAL"),
    ({"ASYNC_MODE": "asyncio"}, "ASYNC_MODE"),
    ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
    ({"APP_ENV": "production", "DATABASE_URL": "mysql://a/b", "REDIS_URL": "redis://r",
      "JWT_SECRET": "x" * 40, "BENCH_ENDPOINTS": "1"}, "BENCH_ENDPOINTS"),
])
def test_bad_or_missing_settings_fail_at_start(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_development_defaults_are_embedded_and_safe():
    s = Settings.from_env({})
    assert s.database_url.startswith("sqlite:///") and s.redis_url.startswith("redis://")
    assert not s.production and s.async_mode == "gevent"
    assert not s.bench_endpoints


def test_bench_endpoints_exist_only_when_enabled():
    from app.factory import build_app

    base = {"DATABASE_URL": "sqlite://", "REDIS_URL": "redis://127.0.0.1:1/0"}
    for flag, status in (("", 404), ("1", 200)):
        app = build_app(Settings.from_env({**base, "BENCH_ENDPOINTS": flag}))
        assert app.test_client().post("/api/bench/noop", json={"id": 7}).status_code == status


# ------------------------------------------------------------- resume rules


@pytest.mark.parametrize(
    ("last_seen", "first_kept", "last", "plan"),
    [
        (10, 1, 10, "replay"),  # up to date: nothing to send
        (5, 1, 10, "replay"),
        (0, 1, 10, "replay"),  # from the very beginning, all kept
        (0, 2, 10, "snapshot"),  # event 1 was trimmed
        (4, 5, 10, "replay"),  # the oldest kept is the next one needed
        (3, 5, 10, "snapshot"),
        (11, 1, 10, "snapshot"),  # ahead of this log: another database
        (None, 1, 10, "snapshot"),  # a client with nothing
        (5, None, 10, "snapshot"),  # everything trimmed
        (10, None, 10, "replay"),
        (0, None, 0, "replay"),  # a fresh system
    ],
)
def test_resume_plan(last_seen, first_kept, last, plan):
    assert events.resume_plan(last_seen, first_kept, last) == plan


def test_visibility_follows_the_rooms():
    gtr = events.user_rooms(True, 1)
    a7 = events.user_rooms(False, 7)
    assert gtr == ["gtr-room"] and a7 == ["asesor-room", "asesor-7"]
    own = events.rooms_for(events.Event.CLIENT_IN_GESTION, asesor_id=7)
    other = events.rooms_for(events.Event.CLIENT_IN_GESTION, asesor_id=8)
    pool = events.rooms_for(events.Event.CLIENT_DERIVED, asesor_id=None, pool=True)
    assert events.visible(own, gtr) and events.visible(other, gtr)
    assert events.visible(own, a7) and not events.visible(other, a7)
    assert events.visible(pool, a7)


def test_log_format_is_json_in_production_and_text_in_development():
    prod = {"APP_ENV": "production", "DATABASE_URL": "mysql://a/b", "REDIS_URL": "redis://r",
            "JWT_SECRET": "x" * 40}
    assert Settings.from_env(prod).log_format == "json"
    assert Settings.from_env({**prod, "LOG_FORMAT": "TEXT"}).log_format == "text"
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"LOG_FORMAT": "json"}).log_format == "json"
