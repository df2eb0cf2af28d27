"""Two reference timeout strategies, for the benchmark only, against the
engine's own (one pending task per session that re-arms itself):

* `scan`: the seed's SeguimientoWorker alone: no task per session; the
  periodic sweep (Celery beat, every WORKER_INTERVAL, 30 s in the seed) times
  out whatever is overdue.
* `revoke`: one countdown task per session, revoked and sent again on every
  heartbeat (what the README says we measured and rejected).

    python -m bench.strategies web STRATEGY    # the web process, patched
    celery -A bench.strategy_worker worker     # a worker that knows the task

Nothing here is imported by the engine. This module imports nothing heavy at
the top: the web process must monkey-patch first."""

from __future__ import annotations

import sys

STRATEGIES = ("engine", "scan", "revoke")


def install(strategy: str) -> None:
    """Patch the engine's arming (and, for `revoke`, its heartbeat) before
    create_app reads them."""
    import tasks.sessions
    from bench.strategy_tasks import arm_revocable
    from core.sessions import SessionService
    from domain import lease

    if strategy == "scan":
        tasks.sessions.arm_timeout = lambda session_id, cliente_id, delay: None
    elif strategy == "revoke":
        tasks.sessions.arm_timeout = arm_revocable
        heartbeat = SessionService.heartbeat

        def revoking_heartbeat(self, asesor_id, cliente_id, session_id=None, **kw):
            out = heartbeat(self, asesor_id, cliente_id, session_id, **kw)
            arm_revocable(out.session["session_id"], cliente_id,
                          self.timeout + lease.REARM_MARGIN)
            return out

        SessionService.heartbeat = revoking_heartbeat
    elif strategy != "engine":
        raise SystemExit(f"unknown strategy {strategy}; one of {STRATEGIES}")


def web(strategy: str) -> None:
    from core.settings import Settings

    mode = Settings.from_env().async_mode
    if mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    install(strategy)
    from app.server import main

    main()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "web":
        raise SystemExit("usage: python -m bench.strategies web STRATEGY")
    web(sys.argv[2])
