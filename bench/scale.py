"""The engine at call-center scale: `make bench` (full size) and
`make bench-smoke` (small, for CI).

    python -m bench.scale --sessions 10000 --gtr 50 --duration 900 --time-factor 1

Starts the real system (web, worker, beat; harness/stack.py) on the test
backends (harness/backends.py: the local MariaDB and Redis when they answer, a
fresh database per run) and runs, each phase on a freshly started stack and
an emptied database and Redis:

1. `floor` (BENCH_ENDPOINTS=1): push latency of a real event (derive) against
   a bare emit through the same Redis message queue; the start race (exactly
   one winner); the highest rate a web process answers with p99 under the
   limit, for the heartbeat and for a no-op endpoint, with its CPU time.
2. `engine`: N advisors (bench/loadgen.py, asyncio + aiohttp) each working
   clients one after the other: start, heartbeat every 30 s / time factor, end
   after a random handling time; a share walks away and is left to time out.
   M GTR Socket.IO clients (bench/gtr.py) time every push. A sampler reads the
   pending broker messages, active sessions, RSS and CPU of every process.
3. `scan` and `revoke` (bench/strategies.py): the same scenario on the two
   reference timeout strategies.

Prints a table, writes bench/results/<name>.json and <name>.png."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import redis
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.auth import hash_password, issue_token  # noqa: E402
from bench.stats import progress, summary  # noqa: E402
from bench.strategies import STRATEGIES  # noqa: E402
from core.db import Database  # noqa: E402
from core.eventlog import create_schema  # noqa: E402
from core.models import Base, Cliente, GestionSession, User  # noqa: E402
from harness import balancer  # noqa: E402
from harness.backends import LOCK_KEY, Backends, choose  # noqa: E402
from harness.stack import CELERY, PY, Stack  # noqa: E402

RESULTS = ROOT / "bench" / "results"
#: how an engine run on several web processes is served (harness/balancer.py)
FRONT = "nginx, deploy/nginx/default.conf (a hash of each request; long-polling by address)"
SEED_TIMEOUT = 600.0  # the production SESSION_TIMEOUT (s)
SEED_HEARTBEAT = 30.0  # the production heartbeat interval (s)

TARGETS = {
    "timeout_lateness_p99_s": 1.0,
    "timeout_lateness_max_s": 2.0,
    "heartbeat_p99_ms": 20.0,
    "push_p99_ms": 100.0,
    "pending_per_session_max": 1.1,
    "rss_growth_pct_max": 10.0,
    "heartbeat_vs_noop_min": 0.5,
}


@dataclass
class Plan:
    sessions: int = 10_000
    gtr: int = 50
    duration: float = 900.0
    time_factor: float = 1.0
    heartbeat_interval: float | None = None  # s; default 30 / time factor
    start_rate: float = 80.0
    abandon_share: float = 0.1
    handling: tuple[float, float] = (0.2, 1.0)  # x SESSION_TIMEOUT
    strategies: tuple[str, ...] = ("scan", "revoke")
    strategy_sessions: int | None = None  # default: sessions
    strategy_duration: float | None = None  # default: duration
    strategy_time_factor: float | None = None  # default: time_factor
    strategy_heartbeat_interval: float | None = None  # default: 30 / strategy time factor
    scan_interval: float = 30.0  # the seed's sweep (s)
    engine_sweep_interval: float = 30.0  # WORKER_INTERVAL of the engine run (s)
    capacity_rates: tuple[float, ...] = (50, 100, 200, 300, 400, 600, 800, 1000, 1300, 1600, 2000,
                                         2500, 3200, 4000)
    capacity_step: float = 2.0  # s; a step is at least capacity_min_requests long
    capacity_min_requests: int = 500  # so a step's p99 is not its maximum
    capacity_reps: int = 3  # the knee: the highest rate passing in a majority
    capacity_targets: int = 200
    p99_limit_ms: float = 20.0
    push_events: int = 200
    push_rate: float = 20.0
    race_clients: int = 50
    race_advisors: int = 5
    loadgen_procs: int = 1
    webs: int = 1  # web processes in the engine run; more than one: behind nginx
    sample_every: float = 5.0
    async_mode: str = "gevent"
    name: str = "scale"
    phases: tuple[str, ...] = ("floor", "engine", "strategies")
    profile: bool = False  # py-spy on the web process during the capacity tests
    out_dir: str = str(RESULTS)

    @property
    def timeout(self) -> float:
        return SEED_TIMEOUT / self.time_factor


# ------------------------------------------------------------------ set-up


class BenchStack(Stack):
    """harness.stack.Stack, with the web process and worker of a strategy."""

    def __init__(self, backends: Backends, logdir: Path, strategy: str, **env: str) -> None:
        super().__init__(backends, logdir, **env)
        self.strategy = strategy

    def start_web(self) -> None:
        if self.strategy == "engine":
            super().start_web()
        else:
            self._spawn("web", [PY, "-m", "bench.strategies", "web", self.strategy])

    def start_worker(self) -> None:
        if self.strategy == "engine":
            super().start_worker()
            return
        self._spawn("worker", [*CELERY[:4], "bench.strategy_worker", "worker", "--loglevel=INFO",
                               "--concurrency=2", "-E", "--without-mingle", "--without-gossip",
                               "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"])


def reset(db: Database, backends: Backends) -> None:
    """An empty schema and an empty Redis db (the claim on it kept)."""
    Base.metadata.drop_all(db.engine)
    create_schema(db)
    r = redis.Redis.from_url(backends.redis_url)
    r.flushdb()
    r.set(LOCK_KEY, os.getpid(), ex=6 * 3600)


def seed_advisors(db: Database, secret: str, tag: str, count: int, per_advisor: int,
                  pool: bool = False) -> list[dict[str, Any]]:
    """`count` advisors, each with `per_advisor` clients derived to them (or
    to the pool); bulk inserts, tokens signed here with the stack's secret."""
    pw = hash_password(uuid.uuid4().hex)
    with db.transaction() as tx:
        tx.execute(insert(User), [{"username": f"bench-{tag}-{i}", "password_hash": pw,
                                   "role": "asesor", "nombre": f"Asesor {i}", "active": True}
                                  for i in range(count)])
        users = {u.id: u for u in tx.execute(select(User).where(
            User.username.like(f"bench-{tag}-%")).order_by(User.id)).scalars()}
        ids = list(users)
        rows = [{"nombre": f"Cliente {a}-{k}", "telefono": "+51 900 000000",
                 "estado": "derivado", "asesor_asignado": None if pool else a, "lock_token": 0}
                for a in ids for k in range(per_advisor)]
        for chunk in range(0, len(rows), 5000):
            tx.execute(insert(Cliente), rows[chunk:chunk + 5000])
        q = select(Cliente.id, Cliente.asesor_asignado).where(Cliente.estado == "derivado")
        clientes = tx.execute(q.order_by(Cliente.id)).all()
    mine: dict[int, list[int]] = {a: [] for a in ids}
    pool_ids = []
    for cid, owner in clientes:
        if owner in mine:
            mine[owner].append(cid)
        elif owner is None:
            pool_ids.append(cid)
    out = []
    for a in ids:
        out.append({"id": a, "token": issue_token(users[a], secret, 8 * 3600)[0],
                    "clientes": mine[a] if not pool else pool_ids})
    return out


def gtr_token(db: Database, secret: str) -> str:
    with db.transaction() as tx:
        tx.execute(insert(User).values(username=f"bench-gtr-{uuid.uuid4().hex[:6]}",
                                       password_hash=hash_password(uuid.uuid4().hex),
                                       role="gtr", nombre="GTR", active=True))
        uid = tx.execute(select(func.max(User.id))).scalar_one()
        user = tx.get(User, uid)
    return issue_token(user, secret, 8 * 3600)[0]


# ------------------------------------------------------------ child processes


class Child:
    """A benchmark child process whose JSON stdout lines are read by a thread."""

    def __init__(self, cmd: list[str], stdin: bool = False) -> None:
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                     stdin=subprocess.PIPE if stdin else None, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.last: dict[str, Any] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                msg = json.loads(line)
                self.last = msg
                self.lines.put(msg)

    def wait_for(self, key: str, timeout: float) -> dict[str, Any]:
        end = time.time() + timeout
        while time.time() < end:
            with contextlib.suppress(queue.Empty):
                msg = self.lines.get(timeout=0.5)
                if key in msg:
                    return msg
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args} exited with {self.proc.returncode}")
        raise RuntimeError(f"no {key!r} from {self.proc.args} in {timeout}s")

    def cpu(self) -> float:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(self.proc.pid).cpu_times()
            return t.user + t.system
        return 0.0


class Listener(Child):
    def __init__(self, url: str, token: str, count: int, out: Path) -> None:
        super().__init__([PY, "-m", "bench.gtr", url, token, str(count), str(out)], stdin=True)
        self.out = out
        self.wait_for("connected", 60 + count)

    def received(self, event: str) -> int:
        return int(self.last.get("progress", {}).get(event, 0))

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)
        return json.loads(self.out.read_text())


def loadgen(spec: dict[str, Any], workdir: Path, label: str) -> Child:
    path = workdir / f"{label}.spec.json"
    path.write_text(json.dumps(spec))
    child = Child([PY, "-m", "bench.loadgen", str(path), str(workdir / f"{label}.out.json")])
    child.out = workdir / f"{label}.out.json"  # type: ignore[attr-defined]
    return child


def finish(child: Child, timeout: float = 600) -> dict[str, Any]:
    try:
        child.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.proc.kill()
        raise RuntimeError(f"loadgen {child.proc.args} did not finish in {timeout}s") from None
    if child.proc.returncode:
        raise RuntimeError(f"loadgen failed ({child.proc.returncode})")
    return json.loads(child.out.read_text())  # type: ignore[attr-defined]


# ------------------------------------------------------------------ sampler


def tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return round(total / 2**20, 1)


def cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return round(total, 2)


def server_procs(redis_url: str) -> dict[str, list[psutil.Process]]:
    """The database and Redis servers (shared with anything else on the machine)."""
    port = redis_url.split(":")[-1].split("/")[0]
    found: dict[str, list[psutil.Process]] = {"mariadb": [], "redis": []}
    for p in psutil.process_iter(["name", "cmdline"]):
        name = p.info["name"] or ""
        if name in ("mariadbd", "mysqld"):
            found["mariadb"].append(p)
        elif name.startswith("redis-server") and f":{port}" in " ".join(p.info["cmdline"] or []):
            found["redis"].append(p)
    return found


def broker_pending(r: redis.Redis) -> dict[str, int]:
    """Celery's messages in Redis: waiting in the queue (and its priority
    lists) and delivered but unacknowledged (countdown tasks a worker holds)."""
    pipe = r.pipeline(transaction=False)
    pipe.llen("celery")
    for prio in (3, 6, 9):
        pipe.llen(f"celery\x06\x16{prio}")
    pipe.hlen("unacked")
    *queued, unacked = pipe.execute()
    return {"queued": int(sum(queued)), "unacked": int(unacked)}


class Sampler(threading.Thread):
    def __init__(self, stack: Stack, db: Database, backends: Backends, every: float,
                 others: dict[str, Child]) -> None:
        super().__init__(daemon=True)
        self.stack, self.db, self.every, self.others = stack, db, every, others
        self.redis = redis.Redis.from_url(backends.redis_url)
        self.servers = server_procs(backends.redis_url)
        self.samples: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def sample(self) -> dict[str, Any]:
        procs = {name: tree(p.pid) for name, p in self.stack.procs.items()}
        with self.db.transaction() as tx:
            active = tx.execute(select(func.count()).select_from(GestionSession)
                                .where(GestionSession.status == "active")).scalar_one()
        s = {"t": time.time(), "active": int(active), **broker_pending(self.redis)}
        for name, ps in procs.items():
            s[f"rss_{name}_mb"] = rss_mb(ps)
            s[f"cpu_{name}_s"] = cpu_s(ps)
        for name, ps in self.servers.items():
            s[f"cpu_{name}_s"] = cpu_s(ps)
        for name, child in self.others.items():
            s[f"cpu_{name}_s"] = round(child.cpu(), 2)
        return s

    def run(self) -> None:
        while not self.halt.is_set():
            with contextlib.suppress(Exception):
                self.samples.append(self.sample())
            self.halt.wait(self.every)

    def stop(self) -> list[dict[str, Any]]:
        self.halt.set()
        self.join(timeout=30)
        with contextlib.suppress(Exception):
            self.samples.append(self.sample())
        return self.samples


# ------------------------------------------------------------------- phases


def start_stack(backends: Backends, db: Database, logdir: Path, strategy: str, plan: Plan,
                timeout: float, webs: int = 1, **env: str) -> BenchStack:
    reset(db, backends)
    logdir.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(backends, logdir, strategy, ASYNC_MODE=plan.async_mode,
                       LOG_LEVEL="WARNING", SESSION_TIMEOUT=repr(timeout),
                       WORKER_INTERVAL=str(int((plan.scan_interval if strategy == "scan"
                                                else plan.engine_sweep_interval) * 1000)),
                       DB_POOL_SIZE="20", **env)
    try:
        stack.start()
        if webs > 1:
            stack.start_balanced(webs)
    except BaseException:
        stack.stop()
        raise
    return stack


def floor_phase(backends: Backends, db: Database, logdir: Path, plan: Plan) -> dict[str, Any]:
    """The engine against its own framework, on a quiet stack."""
    work = logdir / "floor"
    stack = start_stack(backends, db, work, "engine", plan, SEED_TIMEOUT, BENCH_ENDPOINTS="1")
    secret = stack.env["JWT_SECRET"]
    try:
        token = gtr_token(db, secret)
        listener = Listener(stack.base_url, token, plan.gtr, work / "gtr.json")
        # real pushes (derive: a transaction and the event log) against bare emits
        with db.transaction() as tx:
            tx.execute(insert(Cliente), [{"nombre": f"P{i}", "telefono": "1", "estado": "nuevo",
                                          "lock_token": 0} for i in range(plan.push_events)])
            ids = tx.execute(select(Cliente.id).where(Cliente.estado == "nuevo")).scalars().all()
        figures: dict[str, Any] = {}
        for kind, items in (
            ("event", [{"key": f"CLIENT_DERIVED:{cid}", "path": f"/api/clientes/{cid}/derivar",
                        "body": {}} for cid in ids]),
            ("bare_emit", [{"key": f"BENCH_EMIT:{i + 1}", "path": "/api/bench/emit",
                            "body": {"id": i + 1}} for i in range(plan.push_events)]),
        ):
            progress(f"floor: push {kind}", 0, 1)
            out = finish(loadgen({"mode": "pushes", "base_url": stack.base_url, "token": token,
                                  "rate": plan.push_rate, "items": items}, work, kind))
            progress(f"floor: push {kind}", 1, 1)
            figures[kind] = out
        time.sleep(2)
        got = listener.stop()
        pushes = {}
        for kind, out in figures.items():
            lat, missing = [], 0
            for call in out["calls"]:
                seen = got["events"].get(call["key"])
                if call["status"] == 200 and seen and seen["n"] >= plan.gtr:
                    lat.append((seen["last"] - call["t"]) * 1000)
                else:
                    missing += 1
            pushes[kind] = {**summary(lat), "missing": missing, "rate_per_s": plan.push_rate,
                            "api_ms": summary([c["ms"] for c in out["calls"]])}
        # the start race: every advisor at once on each pool client
        racers = seed_advisors(db, secret, "race", plan.race_advisors, 0)
        with db.transaction() as tx:
            tx.execute(insert(Cliente), [{"nombre": f"R{i}", "telefono": "1",
                                          "estado": "derivado", "lock_token": 0}
                                         for i in range(plan.race_clients)])
            pool = tx.execute(select(Cliente.id).where(Cliente.estado == "derivado",
                                                       Cliente.nombre.like("R%"))
                              ).scalars().all()
        progress("floor: race", 0, 1)
        out = finish(loadgen({"mode": "race", "base_url": stack.base_url, "clientes": pool,
                              "tokens": [a["token"] for a in racers]}, work, "race"))
        progress("floor: race", 1, 1)
        wins = [o["won"] for o in out["race"]]
        race = {"clients": len(wins), "advisors_each": plan.race_advisors,
                "exactly_one_winner": sum(1 for w in wins if w == 1),
                "no_winner": sum(1 for w in wins if w == 0),
                "several_winners": sum(1 for w in wins if w > 1),
                "locked_409": sum(o["locked"] for o in out["race"]),
                "other_status": sum(o["other"] for o in out["race"])}
        # capacity: the no-op floor and the heartbeat, interleaved, repeated
        web_pid = stack.procs["web"].pid
        targets = seed_advisors(db, secret, "cap", plan.capacity_targets, 1)
        kinds = {"noop": {"path": "/api/bench/noop", "targets": []},
                 "heartbeat": {"path": "/api/sessions/heartbeat",
                               "targets": [{"token": a["token"], "cliente_id": a["clientes"][0]}
                                           for a in targets]}}
        spy = None
        if plan.profile:
            spy = subprocess.Popen(["py-spy", "record", "--pid", str(web_pid), "--rate", "250",
                                    "--format", "raw", "--nonblocking",
                                    "-o", str(work / "profile-capacity.txt")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ,
                                        "PATH": f"{Path(PY).parent}:{os.environ['PATH']}"})
        child = loadgen({"mode": "capacity", "base_url": stack.base_url, "kinds": kinds,
                         "rates": list(plan.capacity_rates), "step_seconds": plan.capacity_step,
                         "min_requests": plan.capacity_min_requests,
                         "repetitions": plan.capacity_reps, "web_pid": web_pid,
                         "p99_limit_ms": plan.p99_limit_ms}, work, "capacity")
        while child.proc.poll() is None:
            step = child.last.get("progress", {})
            progress("floor: capacity", 0, 1,
                     f"rep {step.get('rep', '-')} {step.get('kind', '-')} "
                     f"{step.get('rate', '-')}/s p99 {step.get('p99_ms', '-')} ms")
            time.sleep(1)
        out = finish(child)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        progress("floor: capacity", 1, 1)
        capacity = {kind: {**capacity_figures(out["steps"], kind, plan.capacity_reps),
                           "errors": {k: v for k, v in out["errors"].items()
                                      if k.startswith(kinds[kind]["path"])}}
                    for kind in kinds}
    finally:
        stack.stop()
    noop, hb = capacity["noop"]["sustained_per_s"], capacity["heartbeat"]["sustained_per_s"]
    return {"pushes": pushes, "race": race, "capacity": capacity,
            "heartbeat_vs_noop": round(hb / noop, 3) if noop else None,
            "heartbeat_cpu_vs_noop": cpu_ratio(out["steps"], "heartbeat", "noop"),
            "push_event_vs_bare_emit_p99": ratio(pushes["event"]["p99"],
                                                 pushes["bare_emit"]["p99"])}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def capacity_figures(steps: list[dict[str, Any]], kind: str, reps: int) -> dict[str, Any]:
    """The knee of one kind: the highest rate that passed (answered in full,
    p99 under the limit, on schedule) in a majority of the repetitions (2 of
    3); its sustained rate is the median achieved there. The spread: each
    repetition's own highest passing rate."""
    mine = [s for s in steps if s["kind"] == kind]
    need = reps // 2 + 1
    rates = sorted({s["rate"] for s in mine})
    passing = [r for r in rates if sum(1 for s in mine if s["rate"] == r and s["passed"]) >= need]
    knee = max(passing) if passing else None
    good = [s for s in mine if s["rate"] == knee and s["passed"]]
    per_rep = [max((s["rate"] for s in mine if s["rep"] == r and s["passed"]), default=0)
               for r in range(1, reps + 1)]
    ok, cpu = sum(s["ok"] for s in good), sum(s["web_cpu_s"] for s in good)
    return {
        "sustained_per_s": median([s["achieved_per_s"] for s in good]) if good else 0.0,
        "knee_rate": knee,
        # the highest rate tried passed: the knee is only a lower bound
        "at_top_of_ladder": knee is not None and knee == max(rates),
        "passes_needed": f"{need} of {reps}",
        "spread": {"knee_per_repetition": per_rep, "min": min(per_rep), "max": max(per_rep),
                   "achieved_at_knee": [s["achieved_per_s"] for s in good]},
        "p99_ms_at_sustained": median([s["p99_ms"] for s in good]) if good else None,
        "web_cpu_ms_per_request": round(cpu / ok * 1000, 3) if ok else None,
        "web_cpu_s_per_1000": round(cpu / ok * 1000, 3) if ok else None,
        "steps": mine,
    }


def cpu_ratio(steps: list[dict[str, Any]], kind: str, base: str) -> dict[str, Any] | None:
    """Web CPU per request of `kind` over `base`, from the steps both answered
    in full (95 %, whatever their p99) at the same rate in the same
    repetition (side by side): median and range."""
    by = {(s["kind"], s["rep"], s["rate"]): s for s in steps
          if s["ok"] and s["ok"] >= 0.95 * s["requests"]}
    ratios = [round((a["web_cpu_s"] / a["ok"]) / (b["web_cpu_s"] / b["ok"]), 2)
              for (k, rep, rate), a in by.items() if k == kind
              and (b := by.get((base, rep, rate))) and b["web_cpu_s"] > 0]
    if not ratios:
        return None
    return {"median": median(ratios), "min": min(ratios), "max": max(ratios), "n": len(ratios)}


def median(xs: list[float]) -> float:
    ordered = sorted(xs)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else round((ordered[mid - 1] + ordered[mid]) / 2, 2)


def sessions_phase(backends: Backends, db: Database, logdir: Path, plan: Plan, strategy: str,
                   n: int, duration: float, factor: float, label: str,
                   hb_interval: float | None = None) -> dict[str, Any]:
    timeout = SEED_TIMEOUT / factor
    hb_interval = hb_interval or SEED_HEARTBEAT / factor
    work = logdir / label
    webs = plan.webs if strategy == "engine" else 1
    stack = start_stack(backends, db, work, strategy, plan, timeout, webs=webs)
    secret = stack.env["JWT_SECRET"]
    lo, hi = plan.handling
    per_advisor = max(2, math.ceil(duration / (lo * timeout)) + 1)
    try:
        progress(f"{strategy}: seeding", 0, 1)
        advisors = seed_advisors(db, secret, strategy, n, per_advisor)
        progress(f"{strategy}: seeding", 1, 1)
        listener = Listener(stack.front_url, gtr_token(db, secret), plan.gtr, work / "gtr.json")
        t0 = time.time() + 2.0
        procs = max(1, min(plan.loadgen_procs, n))
        gens = [loadgen({"mode": "sessions", "base_url": stack.front_url, "t0": t0,
                         "duration": duration, "advisors": advisors[k::procs],
                         "start_rate": plan.start_rate / procs, "hb_interval": hb_interval,
                         "handling": [lo * timeout, hi * timeout],
                         "abandon_share": plan.abandon_share, "seed": k + 1,
                         "connections": 512 // procs}, work, f"loadgen-{k}")
                for k in range(procs)]
        others = {"gtr": listener, **{f"loadgen{k}": g for k, g in enumerate(gens)}}
        sampler = Sampler(stack, db, backends, plan.sample_every, others)
        sampler.start()
        hard_stop = t0 + duration + 180
        while any(g.proc.poll() is None for g in gens) and time.time() < hard_stop:
            counts: dict[str, int] = {}
            for g in gens:
                for key, value in g.last.get("progress", {}).items():
                    counts[key] = counts.get(key, 0) + value
            pend = sampler.samples[-1] if sampler.samples else {}
            progress(f"{strategy}: N={n}", min(time.time() - t0, duration), duration,
                     f"active {pend.get('active', '-')} hb {counts.get('heartbeats', 0)} "
                     f"ended {counts.get('ended', 0)} left {counts.get('abandoned', 0)} "
                     f"pending {pend.get('unacked', '-')}")
            time.sleep(1)
        progress(f"{strategy}: N={n}", duration, duration)
        outs = [finish(g, timeout=max(5.0, hard_stop - time.time())) for g in gens]
        t_end = t0 + duration
        abandoned: dict[str, float] = {}
        for o in outs:
            abandoned.update(o["abandoned"])
        due = {sid: d for sid, d in abandoned.items() if d <= t_end}
        # every timeout that was due in the phase, delivered to every client (bounded wait)
        wait_until = time.time() + max(10.0, (plan.scan_interval if strategy == "scan" else 0)
                                       + 10.0)
        while (listener.received("CLIENT_RETURNED_TO_GTR") < len(due) * plan.gtr
               and time.time() < wait_until):
            time.sleep(0.5)
        time.sleep(1.0)
        samples = sampler.stop()
        got = listener.stop()
        log_errors = {name: tail_errors(stack.logdir / f"{name}.log") for name in stack.procs}
    finally:
        stack.stop()
    figures = session_figures(strategy, n, duration, factor, plan, t0, outs, got, due, samples,
                              log_errors, hb_interval)
    if webs > 1:
        figures["balancing"] = {"webs": webs, "front": FRONT,
                                "client_source_addresses": [balancer.CLIENT_ADDRESS],
                                "requests_per_upstream": balancer.upstream_split(work)}
    return figures


def tail_errors(path: Path) -> int:
    with contextlib.suppress(OSError):
        return sum(1 for line in path.read_text(errors="replace").splitlines()
                   if " ERROR " in line or "Traceback" in line)
    return 0


def session_figures(strategy: str, n: int, duration: float, factor: float, plan: Plan,
                    t0: float, outs: list[dict[str, Any]], got: dict[str, Any],
                    due: dict[str, float], samples: list[dict[str, Any]],
                    log_errors: dict[str, int], hb_interval: float) -> dict[str, Any]:
    events = got["events"]
    m = got["clients"]
    t_end = t0 + duration
    # timeout lateness: deadline -> the last GTR client has CLIENT_RETURNED_TO_GTR
    lateness, series, undelivered, early = [], [], 0, 0
    bound_end = max((e["last"] for e in events.values()), default=t_end)
    for sid, told in due.items():
        seen = events.get(f"CLIENT_RETURNED_TO_GTR:{sid}")
        if seen is None or seen["n"] < m:
            undelivered += 1
            lateness.append(bound_end - told)  # a lower bound
            continue
        if seen["deadline"] is not None and seen["deadline"] < told - 1e-3:
            early += 1  # the server timed out before the deadline the advisor was told
        late = seen["last"] - told
        lateness.append(late)
        series.append((round(told - t0, 3), round(late, 4)))
    unexpected = sum(1 for key, e in events.items()
                     if key.startswith("CLIENT_RETURNED_TO_GTR:")
                     and key.split(":", 1)[1] not in due and e.get("reason") == "timeout"
                     and key.split(":", 1)[1] not in {s for o in outs for s in o["abandoned"]})
    # push latency: an API call's answer -> the last GTR client has its push
    push, missing = [], 0
    for o in outs:
        for event, sid, t1 in o["calls"]:
            seen = events.get(f"{event}:{sid}")
            if seen and seen["n"] >= m:
                push.append((seen["last"] - t1) * 1000)
            else:
                missing += 1
    hb = [ms for o in outs for _, ms in o["hb"]]
    hb_series = sorted((round(t - t0, 2), ms) for o in outs for t, ms in o["hb"])
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    for o in outs:
        for k, v in o["counts"].items():
            counts[k] = counts.get(k, 0) + v
        for k, v in o["errors"].items():
            errors[k] = errors.get(k, 0) + v
    # the broker and memory once every advisor has started (the steady part)
    ramp_end = t0 + n / plan.start_rate
    steady = [s for s in samples if s["t"] >= ramp_end and s["active"] > 0] or samples[-1:]
    per_session = [(s["queued"] + s["unacked"]) / s["active"] for s in steady if s["active"]]
    first, last = (steady[0], steady[-1]) if steady else ({}, {})
    rss = {}
    names = sorted({k[4:-3] for s in steady for k in s if k.startswith("rss_")})
    for name in names:
        key = f"rss_{name}_mb"
        values = [s[key] for s in steady if key in s]
        if values:
            rss[name] = {"steady_start_mb": values[0], "end_mb": values[-1],
                         "max_mb": max(values),
                         "growth_pct": round((values[-1] - values[0]) / values[0] * 100, 1)
                         if values[0] else None}
    wall = samples[-1]["t"] - samples[0]["t"] if len(samples) > 1 else duration
    cpu = {}
    for key in samples[-1] if samples else {}:
        if key.startswith("cpu_"):
            # a child that has exited reads 0: its highest reading is its total
            used = max(s.get(key, 0.0) for s in samples) - samples[0].get(key, 0.0)
            cpu[key[4:-2]] = {"cpu_s": round(used, 1),
                              "pct_of_machine": round(used / wall / (os.cpu_count() or 1) * 100,
                                                      1)}
    requests_done = counts.get("heartbeats", 0) + counts.get("starts", 0) + counts.get("ended", 0)
    # every web process (web, web2, ...), not nginx
    web_cpu = sum(c["cpu_s"] for k, c in cpu.items() if re.fullmatch(r"web\d*", k))
    return {
        "strategy": strategy, "sessions": n, "gtr_clients": m, "duration_s": duration,
        "time_factor": factor, "session_timeout_s": SEED_TIMEOUT / factor,
        "heartbeat_interval_s": hb_interval, "counts": counts, "errors": errors,
        "timeout_lateness_s": {**summary(lateness, 3), "due": len(due), "undelivered": undelivered,
                               "early": early, "negative": sum(1 for v in lateness if v < 0),
                               "unexpected_timeouts": unexpected},
        "heartbeat_ms": summary(hb),
        "heartbeat_send_lag_ms": summary([x for o in outs for x in o["hb_lag_ms"]]),
        "start_ms": summary([x for o in outs for x in o["start_ms"]]),
        "end_ms": summary([x for o in outs for x in o["end_ms"]]),
        "push_ms": {**summary(push), "missing": missing},
        "heartbeat_rate_per_s": round(counts.get("heartbeats", 0) / duration, 1),
        "pending_per_active_session": {**summary(per_session, 3),
                                       "active_at_end": last.get("active"),
                                       "pending_at_end": (last.get("queued", 0)
                                                          + last.get("unacked", 0))},
        "rss": rss,
        "cpu": cpu,
        "web_cpu_s_per_1000_requests": round(web_cpu / requests_done * 1000, 3)
        if requests_done else None,
        "loadgen_cpu_s": round(sum(o["cpu_s"] for o in outs), 1),
        "gtr_listener_cpu_s": got["cpu_s"],
        "max_sessions_in_one_extended_push": got["max_extended_per_push"],
        "server_log_errors": log_errors,
        "series": {"lateness": series, "heartbeat": thin(hb_series, 4000),
                   "samples": [{k: (round(v - t0, 1) if k == "t" else v) for k, v in s.items()}
                               for s in samples]},
    }


def thin(points: list, keep: int) -> list:
    if len(points) <= keep:
        return points
    rng = random.Random(0)
    return sorted(rng.sample(points, keep))


# ------------------------------------------------------------------ report


def row(name: str, dist: dict[str, Any] | None, unit: str, target: str = "",
        ok: bool | None = None) -> str:
    dist = dist or {}
    cells = [str(dist.get(k, "-")) for k in ("p50", "p99", "max")]
    verdict = "" if ok is None else ("met" if ok else "MISSED")
    return f"| {name} | {unit} | {' | '.join(cells)} | {target} | {verdict} |"


def hb_vs_noop(floor: dict[str, Any], target: float) -> bool | None:
    """Met or missed; None when unknown: not measured, or a ratio at the target
    whose no-op floor is only a lower bound (the true ratio may be smaller)."""
    ratio_ = floor.get("heartbeat_vs_noop")
    if ratio_ is None:
        return None
    if ratio_ >= target and floor["capacity"]["noop"].get("at_top_of_ladder"):
        return None
    return ratio_ >= target


def verdicts(result: dict[str, Any]) -> dict[str, bool | None]:
    eng = result["phases"].get("engine", {})
    floor = result["phases"].get("floor", {})
    late = eng.get("timeout_lateness_s", {})
    t = TARGETS

    def le(v: Any, limit: float) -> bool | None:
        return None if v is None else v <= limit

    growth = [r.get("growth_pct") for r in eng.get("rss", {}).values()
              if r.get("growth_pct") is not None]
    return {
        "timeout_lateness_p99": le(late.get("p99"), t["timeout_lateness_p99_s"]),
        "timeout_lateness_max": le(late.get("max"), t["timeout_lateness_max_s"]),
        "timeout_never_early": None if not late else late.get("early") == 0
        and late.get("negative") == 0,
        "heartbeat_p99": le(eng.get("heartbeat_ms", {}).get("p99"), t["heartbeat_p99_ms"]),
        "push_p99": le(eng.get("push_ms", {}).get("p99"), t["push_p99_ms"]),
        "pending_per_session": le(eng.get("pending_per_active_session", {}).get("max"),
                                  t["pending_per_session_max"]),
        "memory_flat": le(max(growth) if growth else None, t["rss_growth_pct_max"]),
        "heartbeat_vs_noop": hb_vs_noop(floor, t["heartbeat_vs_noop_min"]),
        "race_one_winner": None if not floor else
        floor["race"]["exactly_one_winner"] == floor["race"]["clients"],
    }


def at_least(kind: dict[str, Any]) -> str:
    """'≥ ' when the highest rate tried passed (the ladder stopped, not the server)."""
    return "≥ " if kind.get("at_top_of_ladder") else ""


def table(result: dict[str, Any]) -> str:
    eng = result["phases"].get("engine", {})
    floor = result["phases"].get("floor", {})
    v = result["verdicts"]
    lines = ["| figure | unit | p50 | p99 | max | target | |", "|---|---|---|---|---|---|---|"]
    if eng:
        late = eng["timeout_lateness_s"]
        lines += [
            row("timeout lateness (deadline → last GTR client)", late, "s",
                "p99 ≤ 1, max ≤ 2", v["timeout_lateness_p99"] and v["timeout_lateness_max"]),
            row("heartbeat latency", eng["heartbeat_ms"], "ms", "p99 ≤ 20", v["heartbeat_p99"]),
            row("push latency (API answer → all GTR clients)", eng["push_ms"], "ms", "p99 ≤ 100",
                v["push_p99"]),
            row("start latency", eng["start_ms"], "ms"),
            row("end latency", eng["end_ms"], "ms"),
            row("pending broker messages per active session", eng["pending_per_active_session"],
                "msgs", "≤ 1.1", v["pending_per_session"]),
            row("heartbeat send lag of the load generator", eng["heartbeat_send_lag_ms"], "ms"),
        ]
    if floor:
        p = floor["pushes"]
        lines += [row("push latency, real event, quiet (derive)", p["event"], "ms"),
                  row("push latency, bare emit, quiet (floor)", p["bare_emit"], "ms")]
    lines.append("")
    if floor:
        cap = floor["capacity"]
        r = floor["race"]
        lines += [
            f"heartbeats/s one web process sustains with p99 < {result['plan']['p99_limit_ms']}"
            f" ms: {at_least(cap['heartbeat'])}{cap['heartbeat']['sustained_per_s']}; no-op "
            f"floor: {at_least(cap['noop'])}{cap['noop']['sustained_per_s']}/s; ratio "
            f"{floor['heartbeat_vs_noop']} (target ≥ 0.5"
            f": {'met' if v['heartbeat_vs_noop'] else 'MISSED'})",
            "web CPU per 1,000 heartbeats (capacity test): "
            f"{cap['heartbeat']['web_cpu_s_per_1000']} s; per 1,000 no-op requests: "
            f"{cap['noop']['web_cpu_s_per_1000']} s; side by side, heartbeat / no-op: "
            f"{floor.get('heartbeat_cpu_vs_noop')}",
            f"knee ({cap['heartbeat']['passes_needed']} repetitions): heartbeat "
            f"{cap['heartbeat']['knee_rate']}/s (per repetition "
            f"{cap['heartbeat']['spread']['knee_per_repetition']}), no-op "
            f"{cap['noop']['knee_rate']}/s (per repetition "
            f"{cap['noop']['spread']['knee_per_repetition']})",
            f"push p99 real event / bare emit: {floor['push_event_vs_bare_emit_p99']}",
            f"start race: {r['exactly_one_winner']}/{r['clients']} clients with exactly one "
            f"winner among {r['advisors_each']} advisors; several winners: "
            f"{r['several_winners']}; none: {r['no_winner']}",
        ]
    if eng:
        lines += [
            f"engine run: N={eng['sessions']}, {eng['gtr_clients']} GTR clients, "
            f"{eng['duration_s']} s, time factor {eng['time_factor']} (timeout "
            f"{eng['session_timeout_s']} s, heartbeat every {eng['heartbeat_interval_s']} s), "
            f"{eng['heartbeat_rate_per_s']} heartbeats/s; counts {eng['counts']}",
            f"timeouts due {eng['timeout_lateness_s']['due']}, undelivered "
            f"{eng['timeout_lateness_s']['undelivered']}, early "
            f"{eng['timeout_lateness_s']['early']}, unexpected "
            f"{eng['timeout_lateness_s']['unexpected_timeouts']}",
            f"web CPU per 1,000 requests in the run: {eng['web_cpu_s_per_1000_requests']} s",
            *([f"web processes: {eng['balancing']['webs']} behind "
               f"{eng['balancing']['front']}; requests per upstream "
               f"{eng['balancing']['requests_per_upstream']}"] if eng.get("balancing") else []),
            "RSS: " + "; ".join(f"{k} {r['steady_start_mb']} → {r['end_mb']} MB "
                                f"({r['growth_pct']:+}%)" for k, r in eng["rss"].items()),
            "CPU, % of the machine: " + ", ".join(f"{k} {c['pct_of_machine']}"
                                                  for k, c in eng["cpu"].items()),
        ]
    strategies = {k: ph for k, ph in result["phases"].items()
                  if isinstance(ph, dict) and ph.get("strategy")}
    if strategies:
        lines += ["", "| strategy | N | timeout / heartbeat (s) | lateness p50 / p99 / max (s) "
                  "| undelivered | pending per session (p50 / max) | heartbeat p99 (ms) "
                  "| worker CPU % |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, ph in strategies.items():
            late = ph["timeout_lateness_s"]
            lines.append(
                f"| {name} | {ph['sessions']} | {ph['session_timeout_s']} / "
                f"{ph['heartbeat_interval_s']} | {late['p50']} / {late['p99']} / {late['max']} | "
                f"{late['undelivered']}/{late['due']} | "
                f"{ph['pending_per_active_session']['p50']} / "
                f"{ph['pending_per_active_session']['max']} | {ph['heartbeat_ms']['p99']} | "
                f"{ph['cpu'].get('worker', {}).get('pct_of_machine')} |")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = result["phases"]
    eng = phases.get("engine")
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax = axes[0][0]
    if eng:
        for label, values in (("heartbeat", [ms for _, ms in eng["series"]["heartbeat"]]),):
            ordered = sorted(values)
            if ordered:
                ax.plot(ordered, [i / len(ordered) for i in range(len(ordered))], label=label)
    floor = phases.get("floor")
    ax.set_xscale("log")
    ax.set_xlabel("ms")
    ax.set_ylabel("fraction ≤ x")
    ax.set_title("latency distributions (engine run; heartbeat sampled)")
    ax.axvline(20, color="grey", ls=":", lw=1)
    for key in ("start_ms", "push_ms"):
        d = eng.get(key) if eng else None
        if d and d.get("p50") is not None:
            ax.plot([d["p50"], d["p99"], d["max"]], [0.5, 0.99, 1.0], "o-", label=key[:-3])
    if floor:
        for kind, d in floor["pushes"].items():
            if d.get("p50") is not None:
                ax.plot([d["p50"], d["p99"], d["max"]], [0.5, 0.99, 1.0], "x--",
                        label=f"push {kind} (quiet)")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    for name, ph in phases.items():
        if isinstance(ph, dict) and ph.get("series", {}).get("lateness"):
            xs, ys = zip(*ph["series"]["lateness"], strict=True)
            ax.scatter(xs, ys, s=6, label=name)
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("deadline, s since the run started")
    ax.set_ylabel("lateness, s")
    ax.set_title("timeout lateness over time (deadline → last GTR client)")
    ax.legend(fontsize=8)
    ax = axes[1][0]
    if eng:
        xs = [s["t"] for s in eng["series"]["samples"]]
        names = sorted({k[4:-3] for s in eng["series"]["samples"] for k in s
                        if k.startswith("rss_")})
        for name in names:
            key = f"rss_{name}_mb"
            ax.plot(xs, [s.get(key) for s in eng["series"]["samples"]], label=f"RSS {name}")
        ax.set_xlabel("s since the run started")
        ax.set_ylabel("MB")
        ax.set_title("memory (engine run)")
        ax.legend(fontsize=8, loc="upper left")
        ax2 = ax.twinx()
        ax2.plot(xs, [s["active"] for s in eng["series"]["samples"]], "k--", lw=1,
                 label="active sessions")
        ax2.plot(xs, [s["queued"] + s["unacked"] for s in eng["series"]["samples"]], "r:",
                 lw=1, label="pending broker messages")
        ax2.legend(fontsize=8, loc="lower right")
    ax = axes[1][1]
    names, values = [], []
    for name, ph in phases.items():
        if isinstance(ph, dict) and ph.get("strategy"):
            names.append(name)
            values.append(ph["pending_per_active_session"].get("max") or 0)
    ax.bar(names, values)
    ax.set_ylabel("pending broker messages per active session (max)")
    ax.set_title("timeout strategies at the same N")
    fig.suptitle(f"ALBRU session engine, {result['machine']}, {result['when']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -------------------------------------------------------------------- main


def run(plan: Plan) -> dict[str, Any]:
    started = time.time()
    load = os.getloadavg()
    backends = choose()
    db = Database(backends.database_url)
    create_schema(db)
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                   f"{round(psutil.virtual_memory().total / 2**30)} GiB",
        "python": platform.python_version(), "backends": backends.describe(),
        "load_average_at_start": [round(x, 2) for x in load],
        "plan": asdict(plan), "targets": TARGETS, "phases": {},
    }
    n_s = plan.strategy_sessions or plan.sessions
    d_s = plan.strategy_duration or plan.duration
    f_s = plan.strategy_time_factor or plan.time_factor
    h_s = plan.strategy_heartbeat_interval or (
        plan.heartbeat_interval if f_s == plan.time_factor else None)
    logdir = Path(plan.out_dir) / f"{plan.name}-logs"  # the processes' logs, kept
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    result["logs"] = str(logdir)
    try:
        if "floor" in plan.phases:
            result["phases"]["floor"] = floor_phase(backends, db, logdir, plan)
        if "engine" in plan.phases:
            result["phases"]["engine"] = sessions_phase(backends, db, logdir, plan, "engine",
                                                        plan.sessions, plan.duration,
                                                        plan.time_factor, "engine",
                                                        plan.heartbeat_interval)
        same = (n_s, d_s, f_s, h_s) == (plan.sessions, plan.duration, plan.time_factor,
                                        plan.heartbeat_interval)
        strategies = plan.strategies if "strategies" in plan.phases else ()
        if strategies and (not same or "engine" not in plan.phases):
            result["phases"]["engine-at-strategy-N"] = sessions_phase(
                backends, db, logdir, plan, "engine", n_s, d_s, f_s, "engine-at-strategy-N", h_s)
        for strategy in strategies:
            result["phases"][strategy] = sessions_phase(backends, db, logdir, plan, strategy,
                                                        n_s, d_s, f_s, strategy, h_s)
    finally:
        db.dispose()
        backends.close()
    result["wall_s"] = round(time.time() - started, 1)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["verdicts"] = verdicts(result)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", "-n", type=int, default=Plan.sessions)
    p.add_argument("--gtr", "-m", type=int, default=Plan.gtr, help="GTR Socket.IO clients")
    p.add_argument("--duration", type=float, default=Plan.duration, help="s of the engine run")
    p.add_argument("--time-factor", type=float, default=Plan.time_factor,
                   help="divides the 600-s timeout and the 30-s heartbeat interval")
    p.add_argument("--heartbeat-interval", type=float,
                   help="s between heartbeats, instead of 30 / time factor")
    p.add_argument("--handling", type=float, nargs=2, default=list(Plan.handling),
                   metavar=("LO", "HI"), help="handling time, uniform, x SESSION_TIMEOUT")
    p.add_argument("--start-rate", type=float, default=Plan.start_rate,
                   help="sessions started per second while ramping up")
    p.add_argument("--abandon-share", type=float, default=Plan.abandon_share)
    p.add_argument("--strategies", nargs="*", default=list(Plan.strategies),
                   choices=[s for s in STRATEGIES if s != "engine"])
    p.add_argument("--strategy-sessions", type=int)
    p.add_argument("--strategy-duration", type=float)
    p.add_argument("--strategy-time-factor", type=float)
    p.add_argument("--strategy-heartbeat-interval", type=float)
    p.add_argument("--scan-interval", type=float, default=Plan.scan_interval)
    p.add_argument("--engine-sweep-interval", type=float, default=Plan.engine_sweep_interval,
                   help="s between the engine's sweeps (a probe: longer than the run = none)")
    p.add_argument("--capacity-step", type=float, default=Plan.capacity_step)
    p.add_argument("--capacity-min-requests", type=int, default=Plan.capacity_min_requests)
    p.add_argument("--capacity-reps", type=int, default=Plan.capacity_reps)
    p.add_argument("--loadgen-procs", type=int, default=Plan.loadgen_procs)
    p.add_argument("--webs", type=int, default=Plan.webs,
                   help="web processes in the engine run; more than one: behind nginx with "
                        "production's config (needs an nginx binary)")
    p.add_argument("--phases", nargs="+", default=list(Plan.phases),
                   choices=list(Plan.phases))
    p.add_argument("--profile", action="store_true",
                   help="py-spy the web process during the capacity tests (raw stacks in logs)")
    p.add_argument("--async-mode", default=os.environ.get("TEST_ASYNC_MODE", "gevent"))
    p.add_argument("--name", default=Plan.name, help="results file name (no extension)")
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--smoke", action="store_true",
                   help="a small run for CI (~1.5 min): figures present, no timing asserted")
    a = p.parse_args(argv)
    plan = Plan(sessions=a.sessions, gtr=a.gtr, duration=a.duration, time_factor=a.time_factor,
                heartbeat_interval=a.heartbeat_interval, handling=tuple(a.handling),
                strategy_heartbeat_interval=a.strategy_heartbeat_interval,
                start_rate=a.start_rate, abandon_share=a.abandon_share,
                strategies=tuple(a.strategies), strategy_sessions=a.strategy_sessions,
                strategy_duration=a.strategy_duration,
                strategy_time_factor=a.strategy_time_factor, scan_interval=a.scan_interval,
                engine_sweep_interval=a.engine_sweep_interval,
                capacity_step=a.capacity_step, loadgen_procs=a.loadgen_procs, webs=a.webs,
                capacity_min_requests=a.capacity_min_requests, capacity_reps=a.capacity_reps,
                async_mode=a.async_mode, name=a.name, out_dir=a.out_dir,
                phases=tuple(a.phases), profile=a.profile)
    if a.smoke:
        plan = Plan(sessions=30, gtr=3, duration=12, time_factor=100, start_rate=30,
                    abandon_share=0.4, handling=(0.1, 0.5), scan_interval=2,
                    capacity_rates=(50, 100), capacity_step=1.0, capacity_targets=20,
                    capacity_min_requests=0, capacity_reps=1,
                    push_events=20, race_clients=5, race_advisors=3, sample_every=1.0,
                    async_mode=a.async_mode, name="smoke" if a.name == Plan.name else a.name,
                    out_dir=a.out_dir)
    result = run(plan)
    out = Path(plan.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = table(result)
    print(text)
    (out / f"{plan.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, out / f"{plan.name}.png")
    (out / f"{plan.name}.md").write_text(text + "\n")
    print(f"written {out / plan.name}.json, .png, .md "
          f"(load average at start {result['load_average_at_start']})")
    if plan.name == Plan.name and out.resolve() == RESULTS.resolve():
        from bench import report  # the committed run: the performance page follows it

        report.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
