"""Two apps in one process (tests, tools) each reach their own services and
report their own figures: no module-level state decides for them."""

from __future__ import annotations

import uuid

import pytest

from app import create_app
from app.registry import services
from core.settings import Settings
from domain.events import Event, Push

#: It builds two more web apps, which rebind the process' one Socket.IO server
#: (Flask-SocketIO's SocketIO object): kept out of the in-process tier, whose
#: socket test clients use that server.
pytestmark = pytest.mark.stack


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.fixture
def two_apps(tmp_path):
    apps = []
    for n in (1, 2):
        s = Settings.from_env({"APP_ENV": "test", "ASYNC_MODE": "threading",
                               "DATABASE_URL": f"sqlite:///{tmp_path}/a{n}.db",
                               "REDIS_URL": "redis://127.0.0.1:6379/7",
                               "KEY_PREFIX": f"iso-{n}-{uuid.uuid4().hex[:8]}"})
        apps.append(create_app(s, role="web"))
    return apps


def test_each_app_has_its_own_services_and_metrics(two_apps) -> None:
    one, two = two_apps
    assert services(one) is not services(two)
    assert services(one).settings.key_prefix != services(two).settings.key_prefix
    for _ in range(3):
        assert one.test_client().get("/api/health?live=1").status_code == 200
    first = one.test_client().get("/metrics").get_data(as_text=True)
    second = two.test_client().get("/metrics").get_data(as_text=True)
    route = 'albru_http_requests_total{method="GET",route="/api/health",status="200"}'
    assert _metric(first, route) == 3.0
    assert route not in second  # the second app served none of them

    timeout = Push(Event.CLIENT_RETURNED_TO_GTR,
                   {"reason": "timeout", "deadline": 10.0, "ts": 10.5}, ["gtr-room"])
    try:
        services(one).metrics.record_pushes([timeout])
    except Exception:  # noqa: BLE001 - no Redis here: nothing to compare
        pytest.skip("Redis at 127.0.0.1:6379 does not answer")
    first = one.test_client().get("/metrics").get_data(as_text=True)
    second = two.test_client().get("/metrics").get_data(as_text=True)
    assert _metric(first, 'albru_session_timeouts_total{scope="cluster"}') == 1.0
    assert _metric(second, 'albru_session_timeouts_total{scope="cluster"}') == 0.0
    for app in (one, two):
        services(app).redis.delete(services(app).metrics.key)
