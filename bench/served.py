"""The heartbeat against a no-op on the served web process (gevent, real
HTTP and Socket.IO from this process, one request at a time): web CPU per
call, REST and socket heartbeat, in interleaved blocks, 3 repetitions.

    python -m bench.served [--calls 600] [--reps 3] [--json out.json]

Sequential calls, so the web process' own background work is a small share
and the ratio is the cost of a call; `bench.scale --phases floor` measures
rates and p99."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import requests  # noqa: E402
import socketio  # noqa: E402

from bench.scale import seed_advisors  # noqa: E402
from core.db import Database  # noqa: E402
from core.eventlog import create_schema  # noqa: E402
from harness.backends import choose  # noqa: E402
from harness.stack import Stack  # noqa: E402


def run(calls: int, reps: int, block: int = 50) -> dict[str, Any]:
    backends = choose()
    stack = Stack(backends, Path(tempfile.mkdtemp(prefix="albru-served-")),
                  BENCH_ENDPOINTS="1", LOG_LEVEL="WARNING", SESSION_TIMEOUT="600")
    try:
        db = Database(backends.database_url)
        create_schema(db)
        stack.start()
        web = psutil.Process(stack.procs["web"].pid)
        advisors = seed_advisors(db, stack.env["JWT_SECRET"], "srv", 20, 1)
        http = requests.Session()
        for a in advisors:
            r = http.post(f"{stack.base_url}/api/sessions/start",
                          json={"cliente_id": a["clientes"][0]},
                          headers={"Authorization": f"Bearer {a['token']}"}, timeout=10)
            assert r.status_code == 201, r.text
        sockets = []
        for a in advisors:
            sio = socketio.Client(reconnection=False)
            sio.connect(stack.base_url, auth={"token": a["token"]}, transports=["websocket"])
            sockets.append(sio)

        def rest(i: int) -> None:
            a = advisors[i % len(advisors)]
            r = http.post(f"{stack.base_url}/api/sessions/heartbeat",
                          json={"cliente_id": a["clientes"][0]},
                          headers={"Authorization": f"Bearer {a['token']}"}, timeout=10)
            assert r.status_code == 200, r.text

        def sock(i: int) -> None:
            k = i % len(advisors)
            ack = sockets[k].call("heartbeat", {"cliente_id": advisors[k]["clientes"][0]},
                                  timeout=10)
            assert "error" not in ack, ack

        def noop(i: int) -> None:
            r = http.post(f"{stack.base_url}/api/bench/noop", json={"id": i}, timeout=10)
            assert r.status_code == 200

        kinds = {"noop": noop, "rest_heartbeat": rest, "socket_heartbeat": sock}
        for fn in kinds.values():
            for i in range(100):
                fn(i)
        out = []
        for rep in range(reps):
            cpu = dict.fromkeys(kinds, 0.0)
            wall = dict.fromkeys(kinds, 0.0)
            for b in range(calls // block):
                for name, fn in kinds.items():
                    c0, t0 = sum(web.cpu_times()[:2]), time.perf_counter()
                    for i in range(block):
                        fn(b * block + i)
                    cpu[name] += sum(web.cpu_times()[:2]) - c0
                    wall[name] += time.perf_counter() - t0
            n = (calls // block) * block
            ms = {k: round(cpu[k] / n * 1000, 3) for k in kinds}
            row = {"rep": rep + 1, "load_average": [round(x, 2) for x in os.getloadavg()],
                   "web_cpu_ms": ms, "wall_ms": {k: round(wall[k] / n * 1000, 3) for k in kinds},
                   "rest_vs_noop": round(ms["rest_heartbeat"] / ms["noop"], 2),
                   "socket_vs_noop": round(ms["socket_heartbeat"] / ms["noop"], 2)}
            print(json.dumps(row), flush=True)
            out.append(row)
        for s in sockets:
            s.disconnect()
        db.dispose()
        return {"reps": out}
    finally:
        stack.stop()
        backends.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=600)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json")
    a = p.parse_args()
    result = run(a.calls, a.reps)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
