"""Settings are parsed once: everything a process builds (the app, its Celery
app, its services) derives from the one Settings object it was given, never
from a second read of the environment."""

from __future__ import annotations

import importlib

import celery_config
from app import create_app, queue
from app.registry import services
from core.settings import Settings


def test_explicit_settings_win_over_a_production_environment(monkeypatch, tmp_path) -> None:
    # The environment says production and lacks every secret: reading it again
    # anywhere (celery_config used to, at import) would refuse to start.
    monkeypatch.setenv("APP_ENV", "production")
    for name in ("JWT_SECRET", "DATABASE_URL", "REDIS_URL", "DB_HOST", "REDIS_HOST"):
        monkeypatch.delenv(name, raising=False)
    importlib.reload(celery_config)  # importing it reads nothing
    settings = Settings.from_env({"APP_ENV": "development",
                                  "DATABASE_URL": f"sqlite:///{tmp_path}/s.db",
                                  "REDIS_URL": "redis://127.0.0.1:6390/3",
                                  "WORKER_INTERVAL": "1500", "KEY_PREFIX": "once"})
    app = create_app(settings, role="worker")
    assert services(app).settings is settings
    conf = queue.celery(app).conf
    assert conf.broker_url == settings.redis_url
    assert conf.beat_schedule["seguimiento-sweep"]["schedule"] == 1.5
    assert services(app).db.url == settings.database_url
