"""The soak (issue 8, scenario 8): many concurrent advisor sessions for a long
time on the real system (two web processes, a worker, beat) while random
faults from a menu hit it; then the database is checked for lost or double
transitions, stuck sessions and holes in the event log, and memory is
reported over time.

    python -m bench.soak                       # what `make soak` runs (30 min)
    python -m bench.soak --smoke               # the 3-minute CI version
    python -m bench.soak --faults worker,web,redis,mysql --duration 600

Faults (`--faults`, comma-separated): `worker` (kill -9 of the whole worker,
restarted after `--down` s), `web` (kill -9 of one of the two web processes,
restarted on its port after `--down` s; advisors fail over to the other),
`redis` and `mysql` (a private redis-server / mariadbd of the run's own,
killed with SIGKILL and restarted at once; the machine's shared servers are
never touched). Only one fault at a time, one every `--fault-every` s (+-30 %).

Writes `<out-dir>/<name>.json` (every figure and series) and `<name>.md`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import requests
from sqlalchemy import func, select

from bench.invariants import check
from bench.scale import gtr_token, seed_advisors
from bench.stats import summary
from core.db import Database, db_now
from core.eventlog import create_schema
from core.models import GestionSession
from harness.backends import Backends, choose
from harness.services import PrivateMariaDB, PrivateRedis
from harness.stack import Stack

FAULTS = ("worker", "web", "redis", "mysql")
#: The CI default: the faults whose recovery is this branch's (issue 8, 4-5).
CI_FAULTS = ("worker", "web")
#: Set by SIGTERM: stop waiting for recoveries, clean up and exit.
HALT = threading.Event()


@dataclass
class Plan:
    sessions: int = 2000  # concurrent advisors, each always in (or starting) a session
    duration: float = 1800.0
    timeout: float = 180.0  # SESSION_TIMEOUT
    heartbeat: float = 60.0  # (30 s, the production value, overloads one shared 2-core machine)
    handling: tuple[float, float] = (60.0, 240.0)
    abandon: float = 0.1  # share of sessions left to time out
    worker_interval_ms: int = 5000
    faults: tuple[str, ...] = CI_FAULTS
    fault_every: float = 90.0
    down: float = 5.0  # how long a killed process stays down
    slack: float = 5.0  # stuck = active past deadline + WORKER_INTERVAL + slack
    ramp: float = 60.0  # seconds over which the advisors start
    seed: int = 8
    name: str = "soak"
    out_dir: str = "bench/results"

    @property
    def stuck_bound(self) -> float:
        return self.worker_interval_ms / 1000 + self.slack


SMOKE = dict(sessions=100, duration=110.0, timeout=8.0, heartbeat=2.5, handling=(3.0, 12.0),
             worker_interval_ms=1000, fault_every=20.0, down=3.0, ramp=5.0, name="soak-smoke")


# ---------------------------------------------------------------- advisors


class Advisors:
    """N advisors on asyncio + aiohttp, each working its clients one after the
    other through either web process (failing over to the other on a
    connection error, as a balancer would)."""

    def __init__(self, plan: Plan, urls: list[str], advisors: list[dict[str, Any]]) -> None:
        self.plan, self.urls, self.advisors = plan, urls, advisors
        self.rng = random.Random(plan.seed)
        self.stop = asyncio.Event()
        self.counts: Counter[str] = Counter()
        self.sessions: dict[str, dict[str, Any]] = {}  # session_id -> what the advisor saw
        self.http: aiohttp.ClientSession | None = None

    async def call(self, i: int, path: str, body: dict[str, Any], token: str
                   ) -> tuple[int, dict[str, Any]]:
        """POST through advisor i's web process; on a connection error or 503,
        again through the other after 0.2 s, backing off to 2 s (for up to 30 s)."""
        assert self.http is not None
        end = time.time() + 30
        k = i
        wait = 0.2
        while True:
            url = self.urls[k % len(self.urls)]
            try:
                async with self.http.post(url + path, json=body,
                                          headers={"Authorization": f"Bearer {token}"}) as r:
                    data = await r.json(content_type=None)
                    if r.status != 503:
                        return r.status, data if isinstance(data, dict) else {}
                    self.counts[f"{path} 503"] += 1
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
                self.counts[f"{path} connection error"] += 1
            if time.time() > end:
                return 0, {}
            k += 1
            await asyncio.sleep(wait * self.rng.uniform(0.5, 1.0))
            wait = min(2.0, wait * 2)

    async def run(self) -> None:
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=400),
            timeout=aiohttp.ClientTimeout(total=20))
        try:
            tasks = [asyncio.create_task(self.advisor(i, a)) for i, a in enumerate(self.advisors)]
            await asyncio.gather(*tasks)
        finally:
            await self.http.close()

    async def pause(self, seconds: float) -> bool:
        """Sleep; False when the run is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))
        return not self.stop.is_set()

    async def advisor(self, i: int, adv: dict[str, Any]) -> None:
        p = self.plan
        token = adv["token"]
        if not await self.pause(self.rng.uniform(0, p.ramp)):
            return
        for cid in adv["clientes"]:
            if self.stop.is_set():
                return
            status, data = await self.call(i, "/api/sessions/start", {"cliente_id": cid}, token)
            self.counts[f"start {status}"] += 1
            if status != 201:
                continue
            sid = data["session_id"]
            seen = {"cliente_id": cid, "told_deadline": data["deadline"], "heartbeats": 0,
                    "refused_in_time": 0, "abandoned": False, "end": None}
            self.sessions[sid] = seen
            begun = time.time()
            handling = self.rng.uniform(*p.handling)
            abandon = self.rng.random() < p.abandon
            stop_at = begun + (self.rng.uniform(0.0, handling) if abandon else handling)
            alive = True
            while alive and time.time() + p.heartbeat < stop_at:
                if not await self.pause(p.heartbeat * self.rng.uniform(0.9, 1.0)):
                    break
                sent = time.time()
                status, data = await self.call(i, "/api/sessions/heartbeat",
                                               {"cliente_id": cid, "session_id": sid}, token)
                self.counts[f"heartbeat {status}"] += 1
                if status == 200:
                    seen["told_deadline"] = data["deadline"]
                    seen["heartbeats"] += 1
                elif status == 409:
                    alive = False
                    if sent < seen["told_deadline"]:
                        seen["refused_in_time"] += 1  # a live session was ended under us
                        seen["refused_at"] = (sent, seen["told_deadline"])
            if not alive:
                continue
            if abandon and not self.stop.is_set():
                seen["abandoned"] = True
                self.counts["abandoned"] += 1
                if not await self.pause(seen["told_deadline"] - time.time() + 1.0):
                    return
                continue
            if not self.stop.is_set():
                await self.pause(stop_at - time.time())
            status, data = await self.call(
                i, "/api/sessions/end",
                {"cliente_id": cid, "session_id": sid,
                 "resultado": self.rng.choice(["gestionado", "no_gestionado", "cerrado"])},
                token)
            seen["end"] = status
            self.counts[f"end {status}"] += 1


# ----------------------------------------------------------- faults, samples


@dataclass
class FaultRecord:
    fault: str
    at: float
    detail: str = ""
    recovered_at: float | None = None

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_at is None else round(self.recovered_at - self.at, 2)


@dataclass
class Run:
    plan: Plan
    stack: Stack
    db: Database
    redis: PrivateRedis | None
    mariadb: PrivateMariaDB | None
    faults: list[FaultRecord] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    halt: threading.Event = field(default_factory=lambda: HALT)  # a hard stop (SIGTERM)
    no_more_faults: threading.Event = field(default_factory=threading.Event)

    def overdue(self, by: float = 1.0) -> int:
        """Active sessions more than `by` s past their deadline (database clock)."""
        with self.db.transaction() as tx:
            return int(tx.execute(select(func.count()).where(
                GestionSession.status == "active",
                GestionSession.deadline_at < db_now() - by)).scalar_one())

    def healthy(self, url: str) -> bool:
        try:
            return requests.get(f"{url}/api/health", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def wait_recovered(self, rec: FaultRecord, until_overdue_clear: bool) -> None:
        """Recovered: every web answers /api/health 200 (database, Redis, a
        worker) and, after a worker kill, no session is overdue by more than one
        sweep period + 1 s (the backlog the dead worker left is cleared)."""
        end = time.time() + 300
        urls = [f"http://127.0.0.1:{p}" for p in self.stack.web_ports.values()]
        while time.time() < end and not self.halt.is_set():
            try:
                if all(self.healthy(u) for u in urls) and (
                        not until_overdue_clear
                        or self.overdue(self.plan.worker_interval_ms / 1000 + 1.0) == 0):
                    rec.recovered_at = time.time()
                    return
            except Exception as exc:  # noqa: BLE001 - the database is still coming back
                rec.detail = f"{rec.detail} waiting: {type(exc).__name__}".strip()
            time.sleep(0.25)

    def inject(self, fault: str) -> FaultRecord:
        s, p = self.stack, self.plan
        rec = FaultRecord(fault, time.time())
        if fault == "worker":
            s.kill("worker")
            time.sleep(p.down)
            s.start_worker()
        elif fault == "web":
            name = random.choice(sorted(s.web_ports))
            rec.detail = name
            s.kill(name)
            time.sleep(p.down)
            if name == "web":
                s.start_web()
                s.wait_live()
            else:
                s.start_extra_web(name, port=s.web_ports[name])
        elif fault == "redis":
            assert self.redis is not None
            self.redis.restart()
        elif fault == "mysql":
            assert self.mariadb is not None
            self.mariadb.restart()
        self.wait_recovered(rec, until_overdue_clear=fault == "worker")
        return rec

    def injector(self) -> None:
        """One fault at a time until `no_more_faults`; a fault under way is
        always seen through to its recovery (the load keeps running meanwhile)."""
        rng = random.Random(self.plan.seed + 1)
        while not self.no_more_faults.wait(self.plan.fault_every * rng.uniform(0.7, 1.3)):
            fault = rng.choice(self.plan.faults)
            rec = self.inject(fault)
            self.faults.append(rec)
            print(f"soak: {fault} {rec.detail} recovered in {rec.recovery_s} s",
                  file=sys.stderr, flush=True)

    def sampler(self, every: float = 5.0) -> None:
        t0 = time.time()
        while not self.halt.wait(every):
            sample: dict[str, Any] = {"t": round(time.time() - t0, 1)}
            for name, proc in list(self.stack.procs.items()):
                try:
                    root = psutil.Process(proc.pid)
                    tree = [root, *root.children(recursive=True)]
                    sample[f"rss_{name}"] = round(sum(q.memory_info().rss for q in tree) / 2**20, 1)
                    sample[f"pid_{name}"] = proc.pid
                except psutil.Error:
                    pass
            try:
                sample["overdue"] = self.overdue()
                with self.db.transaction() as tx:
                    sample["active"] = int(tx.execute(select(func.count()).where(
                        GestionSession.status == "active")).scalar_one())
            except Exception as exc:  # noqa: BLE001 - the database is down (a fault)
                sample["db_error"] = type(exc).__name__
            self.samples.append(sample)


def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB), in MB per minute."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return None
    return round(60 * sum((t - mx) * (v - my) for t, v in points) / var, 3)


def memory(samples: list[dict[str, Any]], warmup: float, settle: float = 60.0) -> dict[str, Any]:
    """Per role: the longest stretch one process lived (no restart), after the
    run's warm-up and the process's own first `settle` s (a process just
    restarted is still loading): first and last RSS, slope, and whether it grew
    by more than 10 %."""
    out: dict[str, Any] = {}
    roles = sorted({k[4:] for s in samples for k in s if k.startswith("rss_")})
    for role in roles:
        runs: dict[int, list[tuple[float, float]]] = {}
        born: dict[int, float] = {}
        for s in samples:
            if f"rss_{role}" not in s:
                continue
            pid = s[f"pid_{role}"]
            born.setdefault(pid, s["t"])
            if s["t"] >= warmup and s["t"] - born[pid] >= settle:
                runs.setdefault(pid, []).append((s["t"], s[f"rss_{role}"]))
        if not runs:
            continue
        pts = max(runs.values(), key=lambda r: r[-1][0] - r[0][0])
        slope = slope_mb_per_min(pts)
        span_min = (pts[-1][0] - pts[0][0]) / 60
        growth = (slope or 0) * span_min
        out[role] = {"first_mb": pts[0][1], "last_mb": pts[-1][1], "span_s": round(span_min * 60),
                     "slope_mb_per_min": slope, "restarts": len(born) - 1,
                     "flat": growth <= 0.10 * pts[0][1]}
    return out


# --------------------------------------------------------------------- run


def build_backends(plan: Plan, work: Path) -> tuple[Backends, PrivateRedis | None,
                                                      PrivateMariaDB | None]:
    base = choose()
    pr = pm = None
    db_url, redis_url = base.database_url, base.redis_url
    if "redis" in plan.faults:
        pr = PrivateRedis(work)
        pr.start()
        redis_url = pr.url
    if "mysql" in plan.faults:
        pm = PrivateMariaDB(work, database="albru_soak")
        pm.start()
        db_url = pm.url
    own = Backends(db_url, redis_url, "soak", "soak")
    own._base = base  # type: ignore[attr-defined] - closed with the run
    return own, pr, pm


def run(plan: Plan) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="albru-soak-"))
    backends, pr, pm = build_backends(plan, work)
    db = Database(backends.database_url, pool_size=4)
    create_schema(db)
    stack = Stack(backends, work, SESSION_TIMEOUT=str(plan.timeout),
                  WORKER_INTERVAL=str(plan.worker_interval_ms), LOG_LEVEL="WARNING",
                  RATE_LIMIT_START="off", RATE_LIMIT_HEARTBEAT="off",
                  EVENT_LOG_MAX_LEN="10000000", EVENT_LOG_MAX_AGE="604800",
                  EXTEND_PUSH_INTERVAL="5")
    r = Run(plan, stack, db, pr, pm)
    result: dict[str, Any] = {"plan": asdict(plan), "host": platform.node(),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                              "logs": str(work)}
    try:
        stack.start()
        url2 = stack.start_extra_web("web2")
        per = int(plan.duration / (sum(plan.handling) / 2)) + 10
        advisors = seed_advisors(db, stack.env["JWT_SECRET"], uuid.uuid4().hex[:6],
                                 plan.sessions, per)
        gtr_token(db, stack.env["JWT_SECRET"])
        load = Advisors(plan, [stack.base_url, url2], advisors)
        sampler = threading.Thread(target=r.sampler, daemon=True)
        injector = threading.Thread(target=r.injector, daemon=True)
        t0 = time.time()
        sampler.start()
        if plan.faults:
            injector.start()

        async def drive() -> None:
            task = asyncio.create_task(load.run())
            while time.time() - t0 < plan.duration:
                await asyncio.sleep(1.0)
                done = int(time.time() - t0)
                if done % 30 == 0:
                    print(f"soak: {done}/{plan.duration:.0f} s, {len(load.sessions)} sessions, "
                          f"faults {len(r.faults)}", file=sys.stderr, flush=True)
            r.no_more_faults.set()
            if injector.is_alive():  # the load runs on until the last fault has recovered
                await asyncio.get_running_loop().run_in_executor(None, injector.join)
            load.stop.set()
            await task

        asyncio.run(drive())
        r.halt.set()  # the sampler stops
        sampler.join(timeout=30)
        # let the abandoned sessions time out, then read the truth
        settle_until = time.time() + plan.timeout + plan.stuck_bound + 5
        while time.time() < settle_until:
            time.sleep(1.0)
            with contextlib.suppress(Exception):
                if r.overdue(by=-1e9) == 0:  # no session active any more
                    break
        result.update(figures(plan, r, load, t0))
    finally:
        r.halt.set()
        r.no_more_faults.set()
        stack.stop()
        db.dispose()
        for server in (pr, pm):
            if server is not None:
                server.stop()
        backends._base.close()  # type: ignore[attr-defined]
    return result


def in_fault(t0: float, t1: float, faults: list[FaultRecord], interval: float) -> bool:
    """Does [t0, t1] overlap a fault, from its start to its recovery + one sweep?"""
    return any(f.at <= t1 and (f.recovered_at or float("inf")) + interval >= t0 for f in faults)


def figures(plan: Plan, r: Run, load: Advisors, t0: float) -> dict[str, Any]:
    rep = check(r.db, stuck_bound=plan.stuck_bound)
    interval = plan.worker_interval_ms / 1000
    with r.db.transaction() as tx:
        rows = tx.execute(select(GestionSession.id, GestionSession.status,
                                 GestionSession.deadline_at, GestionSession.ended_at)).all()
    truth = {sid: (status, deadline, ended) for sid, status, deadline, ended in rows}
    late_quiet, late_fault, stuck_in_run = [], [], []
    for sid, (status, deadline, ended) in truth.items():
        if status != "timed_out":
            continue
        late = ended - deadline
        if in_fault(deadline, ended, r.faults, interval):
            late_fault.append(late)
        else:
            late_quiet.append(late)
            if late > plan.stuck_bound:
                stuck_in_run.append(sid)
    lost_ends = [sid for sid, s in load.sessions.items()
                 if s["end"] == 200 and truth.get(sid, ("?",))[0] != "completed"]
    refused = [s["refused_at"] for s in load.sessions.values() if s.get("refused_at")]
    refused_quiet = [x for x in refused if not in_fault(x[0], x[1], r.faults, interval)]
    unknown = [sid for sid in load.sessions if sid not in truth]
    recovery: dict[str, Any] = {}
    for name in sorted({f.fault for f in r.faults}):
        times = [f.recovery_s for f in r.faults if f.fault == name and f.recovery_s is not None]
        recovery[name] = {"count": sum(f.fault == name for f in r.faults),
                          "unrecovered": sum(f.fault == name and f.recovered_at is None
                                             for f in r.faults),
                          **summary(times, 2)}
    mem = memory(r.samples, warmup=plan.ramp + 30)
    out = {
        "sessions": rep.sessions,
        "by_status": rep.by_status,
        "transitions": rep.sessions - rep.active,
        "lost_transitions": len(rep.lost) + len(lost_ends) + len(unknown),
        "double_transitions": len(rep.double),
        "mismatched": len(rep.mismatched),
        "early_timeouts": len(rep.early_timeouts),
        "stuck_at_end": len(rep.stuck),
        "stuck_during_run": len(stuck_in_run),
        "still_active_at_end": rep.active,
        "seq_gaps": rep.seq_gaps[:20],
        "events": (rep.seq_last or 0) - (rep.seq_first or 0) + 1 if rep.seq_first else 0,
        "orphan_releases": rep.orphan_releases,
        # a heartbeat sent before the deadline the advisor was told, answered 409:
        # it reached the database after that deadline (during a fault: the retry
        # through the other web process came too late)
        "heartbeats_in_time_refused": len(refused),
        "heartbeats_in_time_refused_outside_faults": len(refused_quiet),
        "timeout_lateness_quiet_s": summary(late_quiet, 3),
        "timeout_lateness_during_faults_s": summary(late_fault, 3),
        "faults": [{**asdict(f), "recovery_s": f.recovery_s} for f in r.faults],
        "recovery_s": recovery,
        "memory": mem,
        "calls": dict(load.counts),
        "samples": r.samples,
        "examples": {"lost": (rep.lost + lost_ends + unknown)[:10], "double": rep.double[:10],
                     "stuck": (rep.stuck + stuck_in_run)[:10]},
        "elapsed_s": round(time.time() - t0, 1),
    }
    out["ok"] = not (out["lost_transitions"] or out["double_transitions"] or out["mismatched"]
                     or out["early_timeouts"] or out["stuck_at_end"] or out["stuck_during_run"]
                     or out["seq_gaps"] or any(v["unrecovered"] for v in recovery.values()))
    out["memory_flat"] = all(v["flat"] for v in mem.values()) if mem else None
    return out


def table(res: dict[str, Any]) -> str:
    p = res["plan"]
    lq, lf = res["timeout_lateness_quiet_s"], res["timeout_lateness_during_faults_s"]
    lines = [
        f"# Soak: {p['sessions']} concurrent sessions, {p['duration']:.0f} s, "
        f"faults {', '.join(p['faults']) or 'none'}",
        "",
        f"Started {res['started']} on {res['host']}; SESSION_TIMEOUT {p['timeout']} s, "
        f"heartbeat every {p['heartbeat']} s, handling {p['handling'][0]}-{p['handling'][1]} s, "
        f"{p['abandon'] * 100:.0f} % left to time out, WORKER_INTERVAL "
        f"{p['worker_interval_ms']} ms, a fault every ~{p['fault_every']:.0f} s "
        f"(killed processes down {p['down']} s).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| sessions started | {res['sessions']} ({res['by_status']}) |",
        f"| transitions (sessions ended) | {res['transitions']} |",
        f"| events in the log | {res['events']} (gaps: {len(res['seq_gaps'])}) |",
        f"| **lost transitions** | {res['lost_transitions']} |",
        f"| **double transitions** | {res['double_transitions']} |",
        f"| status / audit mismatches | {res['mismatched']} |",
        f"| timeouts before the deadline | {res['early_timeouts']} |",
        f"| **stuck** (active > deadline + {p['worker_interval_ms'] / 1000:g} + "
        f"{p['slack']:g} s, outside faults) | {res['stuck_during_run']} during, "
        f"{res['stuck_at_end']} at the end |",
        f"| heartbeats sent before the deadline but refused (409) | "
        f"{res['heartbeats_in_time_refused']} "
        f"({res['heartbeats_in_time_refused_outside_faults']} outside faults) |",
        f"| timeout lateness, quiet (n={lq['n']}) | p50 {lq['p50']} s, p99 {lq['p99']} s, "
        f"max {lq['max']} s |",
        f"| timeout lateness, during a fault (n={lf['n']}) | p50 {lf['p50']} s, "
        f"p99 {lf['p99']} s, max {lf['max']} s |",
        f"| orphan releases | {res['orphan_releases']} |",
        "",
        "| fault | count | recovery p50 / max (s) | unrecovered |",
        "|---|---|---|---|",
    ]
    for name, v in res["recovery_s"].items():
        lines.append(f"| {name} | {v['count']} | {v['p50']} / {v['max']} | {v['unrecovered']} |")
    lines += ["", "| process | RSS first → last (MB) | over (s) | slope (MB/min) | restarts "
              "| flat |", "|---|---|---|---|---|---|"]
    for name, v in res["memory"].items():
        lines.append(f"| {name} | {v['first_mb']} → {v['last_mb']} | {v['span_s']} | "
                     f"{v['slope_mb_per_min']} | {v['restarts']} | {v['flat']} |")
    lines += ["", f"Verdict: **{'PASS' if res['ok'] else 'FAIL'}** (correctness); memory "
              f"{'flat' if res['memory_flat'] else 'NOT shown flat'} "
              "(flat: growth over the longest process lifetime, after its first minute, "
              "≤ 10 % of its RSS then).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = Plan()
    ap.add_argument("--smoke", action="store_true", help="the 3-minute CI version")
    ap.add_argument("--sessions", type=int)
    ap.add_argument("--duration", type=float, help="seconds")
    ap.add_argument("--timeout", type=float, help="SESSION_TIMEOUT, s")
    ap.add_argument("--heartbeat", type=float, help="s between an advisor's heartbeats")
    ap.add_argument("--handling", type=float, nargs=2, help="min max s")
    ap.add_argument("--abandon", type=float, help="share of sessions left to time out")
    ap.add_argument("--worker-interval-ms", type=int)
    ap.add_argument("--faults", help=f"comma-separated from {','.join(FAULTS)}; '' for none "
                    f"(default {','.join(CI_FAULTS)})")
    ap.add_argument("--fault-every", type=float, help="mean s between faults")
    ap.add_argument("--down", type=float, help="s a killed process stays down")
    ap.add_argument("--slack", type=float)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--name")
    ap.add_argument("--out-dir")
    ap.add_argument("--rescore", metavar="JSON", help="recompute the memory figures and the "
                    "table of a saved run from its samples (no new run)")
    a = ap.parse_args(argv)
    if a.rescore:
        path = Path(a.rescore)
        res = json.loads(path.read_text())
        res["memory"] = memory(res["samples"], warmup=res["plan"]["ramp"] + 30)
        mem = res["memory"]
        res["memory_flat"] = all(v["flat"] for v in mem.values()) if mem else None
        path.write_text(json.dumps(res, indent=1, default=str))
        md = table(res)
        path.with_suffix(".md").write_text(md)
        print(md)
        return 0 if res["ok"] else 1
    values: dict[str, Any] = dict(SMOKE) if a.smoke else {}
    for key in ("sessions", "duration", "timeout", "heartbeat", "abandon", "worker_interval_ms",
                "fault_every", "down", "slack", "seed", "name", "out_dir"):
        if getattr(a, key) is not None:
            values[key] = getattr(a, key)
    if a.handling:
        values["handling"] = tuple(a.handling)
    if a.faults is not None:
        faults = tuple(x.strip() for x in a.faults.split(",") if x.strip())
        unknown = set(faults) - set(FAULTS)
        if unknown:
            ap.error(f"unknown faults {sorted(unknown)}; choose from {','.join(FAULTS)}")
        values["faults"] = faults
    plan = Plan(**{**asdict(d), **values})
    def _terminate(*_a: Any) -> None:
        HALT.set()
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, _terminate)
    res = run(plan)
    out = Path(plan.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{plan.name}.json").write_text(json.dumps(res, indent=1, default=str))
    md = table(res)
    (out / f"{plan.name}.md").write_text(md)
    print(md)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
