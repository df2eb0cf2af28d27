"""`celery -A bench.strategy_worker worker`: the engine's worker plus the
benchmark's reference timeout task (bench.strategies)."""

from __future__ import annotations

import bench.strategy_tasks  # noqa: F401 - registers bench.revocable_timeout
from tasks.worker import celery_app, flask_app

__all__ = ["celery_app", "flask_app"]
