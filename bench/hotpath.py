"""The heartbeat's hot path against a no-op request, in one process: round
trips per call (MySQL packets sent by PyMySQL, Redis commands sent by
redis-py, pipelines counted by command) and CPU per call, REST and socket,
measured in interleaved blocks so a shared machine's noise hits both sides.

    python -m bench.hotpath [--calls 400] [--reps 3] [--json out.json]

In-process (Flask's and Flask-SocketIO's test clients, ASYNC_MODE=threading),
so the figures are the app's own cost: no HTTP server, no loopback socket to
the client. `bench.scale --phases floor` measures the served process."""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from app.auth import hash_password, issue_token  # noqa: E402
from core.db import Database  # noqa: E402
from core.eventlog import create_schema  # noqa: E402
from core.models import Cliente, User  # noqa: E402
from harness.backends import Backends, choose  # noqa: E402
from harness.roundtrips import round_trips  # noqa: E402
from harness.stack import system_env  # noqa: E402


class InProcess:
    """The web app in this process with Flask's and Flask-SocketIO's test
    clients (what tests/inprocess.py does for the fast tier; bench never
    imports tests). The Socket.IO test client refuses a server with a message
    queue: the check is skipped and the Redis manager started once."""

    def __init__(self, backends: Backends, **overrides: str) -> None:
        from app import create_app
        from core.settings import Settings

        self.env = {**system_env(backends), "ASYNC_MODE": "threading", **overrides}
        self.settings = Settings.from_env(self.env)
        self.app = create_app(self.settings, role="web")
        self.socketio = self.app.extensions["socketio"]
        manager = self.socketio.server.manager
        manager.initialize()
        manager.initialize = lambda: None

    def socket_client(self, auth: Any) -> Any:
        import flask_socketio.test_client as tc

        real = tc.PubSubManager
        tc.PubSubManager = type("NoQueue", (), {})
        try:
            return self.socketio.test_client(self.app, auth=auth)
        finally:
            tc.PubSubManager = real


def setup(backends: Backends) -> tuple[InProcess, list[dict[str, Any]]]:
    db = Database(backends.database_url)
    create_schema(db)
    inproc = InProcess(backends, BENCH_ENDPOINTS="1", SESSION_TIMEOUT="600",
                       RATE_LIMIT_HEARTBEAT="100000/minute", LOG_LEVEL="WARNING")
    pw = hash_password("x")
    with db.transaction() as tx:
        tx.execute(insert(User), [{"username": f"hp-{os.getpid()}-{i}", "password_hash": pw,
                                   "role": "asesor", "nombre": f"A{i}", "active": True}
                                  for i in range(20)])
        users = tx.execute(select(User).where(User.username.like(f"hp-{os.getpid()}-%"))
                           ).scalars().all()
        tx.execute(insert(Cliente), [{"nombre": f"C{u.id}", "telefono": "1",
                                      "estado": "derivado", "asesor_asignado": u.id,
                                      "lock_token": 0} for u in users])
        cl = {c.asesor_asignado: c.id for c in tx.execute(select(Cliente)).scalars()}
    secret = inproc.settings.jwt_secret
    targets = [{"token": issue_token(u, secret, 3600)[0], "cliente_id": cl[u.id]} for u in users]
    client = inproc.app.test_client()
    for t in targets:
        r = client.post("/api/sessions/start", json={"cliente_id": t["cliente_id"]},
                        headers={"Authorization": f"Bearer {t['token']}"})
        assert r.status_code == 201, r.get_data(as_text=True)
    return inproc, targets


def run(calls: int, reps: int) -> dict[str, Any]:
    backends = choose()  # a database and Redis db of its own, released at the end
    try:
        with round_trips({3306: "mysql", 6379: "redis"}, mysql="mysql") as seen:
            return _measure(backends, calls, reps, seen)
    finally:
        backends.close()


def _measure(backends: Backends, calls: int, reps: int,
             seen: collections.Counter) -> dict[str, Any]:
    inproc, targets = setup(backends)
    client = inproc.app.test_client()
    sockets = [inproc.socket_client({"token": t["token"]}) for t in targets]

    def rest_hb(i: int) -> None:
        t = targets[i % len(targets)]
        r = client.post("/api/sessions/heartbeat", json={"cliente_id": t["cliente_id"]},
                        headers={"Authorization": f"Bearer {t['token']}"})
        assert r.status_code == 200, r.get_data(as_text=True)

    def socket_hb(i: int) -> None:
        k = i % len(targets)
        ack = sockets[k].emit("heartbeat", {"cliente_id": targets[k]["cliente_id"]},
                              callback=True)
        assert "error" not in ack, ack

    def noop(i: int) -> None:
        r = client.post("/api/bench/noop", json={"id": i})
        assert r.status_code == 200

    kinds = {"noop": noop, "rest_heartbeat": rest_hb, "socket_heartbeat": socket_hb}
    for fn in kinds.values():  # warm up
        for i in range(50):
            fn(i)
    trips: dict[str, dict[str, float]] = {}
    for name, fn in kinds.items():
        seen.clear()
        for i in range(100):
            fn(i)
        trips[name] = {k: v / 100 for k, v in sorted(seen.items())}
    out: list[dict[str, Any]] = []
    for rep in range(reps):
        cpu = {k: 0.0 for k in kinds}
        n = {k: 0 for k in kinds}
        block = 20
        for b in range(calls // block):
            for name, fn in kinds.items():  # interleaved blocks
                t0 = time.process_time()
                for i in range(block):
                    fn(b * block + i)
                cpu[name] += time.process_time() - t0
                n[name] += block
        ms = {k: round(cpu[k] / n[k] * 1000, 3) for k in kinds}
        row = {"rep": rep + 1, "load_average": [round(x, 2) for x in os.getloadavg()],
               "cpu_ms": ms,
               "rest_vs_noop": round(ms["rest_heartbeat"] / ms["noop"], 2),
               "socket_vs_noop": round(ms["socket_heartbeat"] / ms["noop"], 2)}
        print(json.dumps(row))
        out.append(row)
    return {"round_trips_per_call": trips, "cpu": out}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=400)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json")
    a = p.parse_args()
    result = run(a.calls, a.reps)
    print(json.dumps(result["round_trips_per_call"], indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
