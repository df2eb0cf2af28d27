"""Push latency under each async mode: from a REST call to every GTR client
having the event, with many GTR clients connected.

    python -m bench.push_latency --clients 200 --events 300 --modes eventlet gevent

Starts the real system (web, worker, beat) on the test backends (local MariaDB
and Redis when they answer), connects N python-socketio GTR clients, then
derives clients one by one through the API and records when each client
receives each CLIENT_DERIVED. Prints a table and writes
bench/results/push-latency.json. Figures, not assertions."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.auth import hash_password, issue_token  # noqa: E402
from bench.stats import pct, progress  # noqa: E402
from core.db import Database  # noqa: E402
from core.eventlog import create_schema  # noqa: E402
from core.models import Cliente, User  # noqa: E402
from harness.backends import choose  # noqa: E402
from harness.stack import Stack  # noqa: E402

RESULTS = ROOT / "bench" / "results"


async def _receive(url: str, token: str, count: int, out: str) -> None:
    """The GTR clients: `count` AsyncClients in this one process (asyncio, so the
    load generator stays light next to the server it measures)."""
    import asyncio

    got: list[dict[int, float]] = [{} for _ in range(count)]

    def handler(i: int):
        async def on(data) -> None:
            got[i][data["cliente_id"]] = time.time()
        return on

    clients = []
    for i in range(count):
        c = socketio.AsyncClient(reconnection=False)
        c.on("CLIENT_DERIVED", handler(i))
        await c.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)
        clients.append(c)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
    for c in clients:
        await c.disconnect()
    Path(out).write_text(json.dumps([{str(k): v for k, v in g.items()} for g in got]))


def run_mode(mode: str, clients: int, events: int, rate: float) -> dict:
    backends = choose()
    db = Database(backends.database_url)
    create_schema(db)
    with tempfile.TemporaryDirectory() as logdir:
        stack = Stack(backends, Path(logdir), ASYNC_MODE=mode, LOG_LEVEL="WARNING",
                      SESSION_TIMEOUT="600", WORKER_INTERVAL="30000")
        try:
            stack.start()
            with db.transaction() as tx:
                tag = f"{mode}-{time.time_ns()}"
                gtr = User(username=f"bench-gtr-{tag}", password_hash=hash_password("x"),
                           role="gtr", nombre="Bench GTR", active=True)
                asesor = User(username=f"bench-a-{tag}", password_hash=hash_password("x"),
                              role="asesor", nombre="Bench Asesor", active=True)
                tx.add_all([gtr, asesor])
                tx.flush()
                rows = [Cliente(nombre=f"Bench {i}", telefono="+51 900 000000", estado="nuevo",
                                lock_token=0) for i in range(events)]
                tx.add_all(rows)
                tx.flush()
                ids = [c.id for c in rows]
                gtr_token = issue_token(gtr, stack.env["JWT_SECRET"], 3600)[0]
                asesor_id = asesor.id
            arrivals_file = Path(logdir) / "arrivals.json"
            receiver = subprocess.Popen(
                [sys.executable, "-m", "bench.push_latency", "--receive", stack.base_url,
                 gtr_token, str(clients), str(arrivals_file)],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            progress(f"{mode}: connecting", 0, 1)
            assert receiver.stdout.readline().strip() == "ready", "receivers did not connect"
            progress(f"{mode}: connecting", 1, 1)
            receiver_cpu0 = psutil.Process(receiver.pid).cpu_times()
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {gtr_token}"
            sent: dict[int, tuple[float, float]] = {}
            call_ms: list[float] = []
            for n, cid in enumerate(ids):
                t0 = time.time()
                r = http.post(f"{stack.base_url}/api/clientes/{cid}/derivar",
                              json={"asesor_id": asesor_id}, timeout=30)
                t1 = time.time()
                r.raise_for_status()
                sent[cid] = (t0, t1)
                call_ms.append((t1 - t0) * 1000)
                progress(f"{mode}: pushing", n + 1, len(ids))
                time.sleep(max(0.0, 1 / rate - (time.time() - t0)))
            time.sleep(3)  # the last pushes arrive
            cpu = psutil.Process(receiver.pid).cpu_times()
            receiver_cpu = (cpu.user + cpu.system) - (receiver_cpu0.user + receiver_cpu0.system)
            receiver.communicate("stop\n", timeout=120)
            got = [{int(k): v for k, v in g.items()} for g in json.loads(arrivals_file.read_text())]
            after_return: list[float] = []  # ms from the call returning, every client
            everyone: list[float] = []  # ms until the LAST client has it, per event
            missing = 0
            for cid, (_, t1) in sent.items():
                arrivals = [g.get(cid) for g in got]
                missing += sum(1 for a in arrivals if a is None)
                present = [a for a in arrivals if a is not None]
                after_return.extend((a - t1) * 1000 for a in present)
                if len(present) == len(got):
                    everyone.append((max(present) - t1) * 1000)
        finally:
            stack.stop()
            db.dispose()
            backends.close()
    return {
        "mode": mode,
        "clients": clients,
        "events": events,
        "rate_per_s": rate,
        "deliveries_missing": missing,
        "push_ms_p50": round(statistics.median(after_return), 2),
        "push_ms_p99": round(pct(after_return, 0.99), 2),
        "push_ms_max": round(max(after_return), 2),
        "all_clients_ms_p50": round(statistics.median(everyone), 2) if everyone else None,
        "all_clients_ms_p99": round(pct(everyone, 0.99), 2) if everyone else None,
        "api_call_ms_p50": round(statistics.median(call_ms), 2),
        "api_call_ms_p99": round(pct(call_ms, 0.99), 2),
        "receivers_cpu_s": round(receiver_cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="API calls per second")
    parser.add_argument("--modes", nargs="+", default=["eventlet", "gevent"])
    parser.add_argument("--receive", nargs=4, metavar=("URL", "TOKEN", "N", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        import asyncio

        url, token, count, out = args.receive
        asyncio.run(_receive(url, token, int(count), out))
        return
    results = [run_mode(m, args.clients, args.events, args.rate) for m in args.modes]
    cols = ["mode", "clients", "events", "push_ms_p50", "push_ms_p99", "push_ms_max",
            "all_clients_ms_p50", "all_clients_ms_p99", "api_call_ms_p50", "api_call_ms_p99",
            "deliveries_missing", "receivers_cpu_s"]
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(str(r[c]) for c in cols))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "python": platform.python_version(), "results": results}
    (RESULTS / "push-latency.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {RESULTS / 'push-latency.json'}")


if __name__ == "__main__":
    main()
