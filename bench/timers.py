"""Session timers at scale (`make bench-timers`, issue 19): N concurrent
session timeouts on the real worker and beat, timers only (no HTTP, no web).

Sessions are written straight into the database in batches at a steady rate
(a client `en_gestion`, an active session, its Redis cache key) and armed
through the engine's own path (`Services.timers`, what a start calls). A
share (`--expire-share`, 10 %) is left to time out; the rest get a heartbeat
every `--heartbeat-every` s (one UPDATE per batch, as the heartbeat's) and
half of them are ended after the peak. At the peak (all N armed) the worker is
killed with SIGKILL and a new one started `--kill-down` s later. Sampled every
2 s: the worker's RSS (main + pool), the broker's pending messages (queued +
unacknowledged) and the due-queue's size. At the end, from the database:
timeout lateness (ended_at - deadline_at, database clock), early timeouts,
lost ones (still active), wrong ones (a heartbeated or ended session timed
out), and the kill recovery (how long after the new worker was spawned the
sessions due while no worker ran were timed out).

Writes `<out-dir>/<name>.json` and `<name>.md`."""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import random
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import redis
from sqlalchemy import insert, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import rss_mb, tree  # noqa: E402
from bench.stats import pct, progress, summary  # noqa: E402
from core.db import Database, db_now  # noqa: E402
from core.eventlog import create_schema  # noqa: E402
from core.models import Cliente, GestionSession, User  # noqa: E402
from core.settings import Settings  # noqa: E402
from harness.backends import (  # noqa: E402
    Backends,  # noqa: E402
    choose,
    scratch_database,
    scratch_redis,
)
from harness.stack import Stack  # noqa: E402

TICK = 0.2  # seconds between two batches of arms, heartbeats, ends
SAMPLE_EVERY = 2.0


@dataclass
class Timer:
    sid: str
    cid: int
    kind: str  # "expire" | "end" | "keep"
    armed_at: float
    next_hb: float = 0.0
    end_at: float = 0.0
    done: bool = False


@dataclass
class Run:
    args: argparse.Namespace
    timers: list[Timer] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)
    held_at_kill: int = 0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pending(r: redis.Redis) -> int:
    """Celery messages in the broker: the queue plus what workers hold unacked."""
    pipe = r.pipeline(transaction=False)
    pipe.llen("celery")
    pipe.hlen("unacked")
    queued, unacked = pipe.execute()
    return int(queued) + int(unacked)


def wait_worker(stack: Stack, app_celery: Any, timeout: float = 60) -> None:
    from app.queue import ping_workers

    end = time.time() + timeout
    while time.time() < end:
        if stack.procs["worker"].poll() is not None:
            raise RuntimeError(f"worker exited; see {stack.logdir}/worker.log")
        with contextlib.suppress(Exception):  # not up yet
            if ping_workers(app_celery, timeout=1.0):
                return
        time.sleep(0.3)
    raise RuntimeError("worker did not answer a ping")


def run(args: argparse.Namespace, backends: Backends, workdir: Path) -> dict[str, Any]:
    with scratch_database(backends, "timers", str(workdir)) as db_url, \
            scratch_redis(backends) as redis_url:
        db = Database(db_url, pool_size=4)
        create_schema(db)
        own = Backends(db_url, redis_url, backends.database_kind, backends.redis_kind)
        stack = Stack(own, workdir, SESSION_TIMEOUT=str(args.timeout),
                      WORKER_INTERVAL=str(args.worker_interval), LOG_FORMAT="json",
                      LOG_LEVEL="WARNING")
        try:
            return drive(args, stack, db)
        finally:
            stack.stop()
            db.dispose()


def drive(args: argparse.Namespace, stack: Stack, db: Database) -> dict[str, Any]:
    from app import create_app
    from app.queue import celery as celery_of
    from app.registry import services

    settings = Settings.from_env({k: v for k, v in stack.env.items()}, dotenv=False)
    app = create_app(settings)
    svc = services(app)
    r = redis.Redis.from_url(stack.backends.redis_url)
    out = Run(args)
    with db.transaction() as tx:
        asesor = tx.execute(insert(User).values(
            username="bench", password_hash="!",  # noqa: S106 - no login
            role="asesor", nombre="Bench")
        ).inserted_primary_key[0]

    stack.start_worker()
    stack.start_beat()
    wait_worker(stack, celery_of(app))
    time.sleep(2.0)  # the worker settles (imports done, pool forked)

    def worker_rss() -> float | None:
        """RSS of the current worker, main + pool processes added up (None while
        it is dead). Pages the pool shares with the main process (fork) count
        once per process here: `worker_pss` counts them once."""
        proc = stack.procs.get("worker")
        return rss_mb(tree(proc.pid)) if proc is not None else None

    def worker_pss() -> float | None:
        proc = stack.procs.get("worker")
        if proc is None:
            return None
        total = 0
        for p in tree(proc.pid):
            with contextlib.suppress(psutil.Error):
                total += p.memory_full_info().pss
        return round(total / 2**20, 1)

    rss_start, pss_start = worker_rss(), worker_pss()
    out.events["load_average_at_start"] = load_average()  # type: ignore[assignment]

    n, rate, timeout = args.timers, args.rate, args.timeout
    ramp = n / rate
    t0 = time.time()
    out.events["t0"] = t0
    kill_at = t0 + ramp + 1.0 if args.kill_down > 0 else None
    restart_at: float | None = None
    run_end = t0 + ramp + timeout + args.settle
    keep_end = t0 + ramp + timeout  # "end" sessions end between the peak and this
    rng = random.Random(19)
    sched = Schedule(timeout)
    created = 0
    next_sample = t0
    prefix = settings.key_prefix
    peak_live = 0
    while True:
        now = time.time()
        if now >= run_end:
            break
        # ---- arm the sessions due by now (a steady rate)
        want = min(n, int((now - t0) * rate) + 1)
        if want > created:
            batch = arm_batch(db, svc, r, prefix, asesor, created, want, timeout, rng, ramp,
                              keep_end, t0)
            sched.add(out.timers, batch)
            created = want
        # ---- heartbeats and ends
        beat_and_end(db, r, prefix, out.timers, sched, now, args.heartbeat_every, timeout)
        # ---- the kill at the peak
        if kill_at is not None and now >= kill_at and "kill" not in out.events:
            out.held_at_kill = int(r.hlen("unacked"))
            out.events["kill"] = time.time()
            stack.kill("worker")
            restart_at = time.time() + args.kill_down
        if restart_at is not None and now >= restart_at and "restart" not in out.events:
            out.events["restart"] = time.time()
            stack.start_worker()
        # ---- samples
        if now >= next_sample:
            next_sample = now + SAMPLE_EVERY
            live = sched.live(now)
            peak_live = max(peak_live, live)
            out.samples.append({"t": round(now - t0, 1), "live": live, "pending": pending(r),
                                "due_queue": int(r.zcard(f"{prefix}:timers")),
                                "worker_rss_mb": worker_rss(), "worker_pss_mb": worker_pss()})
            s = out.samples[-1]
            progress("timers", min(now - t0, run_end - t0), run_end - t0,
                     f"live {live} pending {s['pending']} queue {s['due_queue']} "
                     f"rss {s['worker_rss_mb']}")
        time.sleep(max(0.0, TICK - (time.time() - now)))
    rss_end, pss_end = worker_rss(), worker_pss()
    progress("timers", 1.0, 1.0)
    out.events["pss_start"], out.events["pss_end"] = pss_start or 0.0, pss_end or 0.0
    return report(args, db, out, rss_start, rss_end, peak_live, settings)


def arm_batch(db: Database, svc: Any, r: redis.Redis, prefix: str, asesor: int, lo: int,
              hi: int, timeout: float, rng: random.Random, ramp: float, keep_end: float,
              t0: float) -> list[Timer]:
    """Sessions lo..hi-1: their rows (one transaction), cache keys, and their
    timeouts armed through the engine's due-queue."""
    import uuid

    ids = [uuid.uuid4().hex for _ in range(lo, hi)]
    with db.transaction() as tx:
        now = float(tx.execute(select(db_now())).scalar_one())
        tx.execute(insert(Cliente), [
            {"id": i + 1, "nombre": f"c{i}", "telefono": "0", "estado": "en_gestion",
             "asesor_asignado": asesor, "lock_token": 1, "current_session_id": sid,
             "updated_at": now} for i, sid in zip(range(lo, hi), ids, strict=True)])
        tx.execute(insert(GestionSession), [
            {"id": sid, "cliente_id": i + 1, "asesor_id": asesor, "token": 1,
             "status": "active", "started_at": now, "last_activity_at": now,
             "deadline_at": now + timeout, "heartbeats": 0}
            for i, sid in zip(range(lo, hi), ids, strict=True)])
    pipe = r.pipeline(transaction=False)
    for i, sid in zip(range(lo, hi), ids, strict=True):
        key = f"{prefix}:session:{i + 1}"
        pipe.hset(key, mapping={"session_id": sid, "cliente_id": i + 1, "status": "active",
                                "deadline": now + timeout})
        pipe.pexpire(key, int(timeout * 1000))
    pipe.execute()
    svc.timers.arm_many([(sid, i + 1, timeout + 0.02)
                         for i, sid in zip(range(lo, hi), ids, strict=True)])
    wall = time.time()
    out = []
    for i, sid in zip(range(lo, hi), ids, strict=True):
        roll = rng.random()
        kind = "expire" if roll < 0.1 else ("end" if roll < 0.55 else "keep")
        t = Timer(sid, i + 1, kind, wall)
        if kind != "expire":
            t.next_hb = wall + rng.uniform(0.3, 0.5) * timeout
        if kind == "end":
            t.end_at = rng.uniform(t0 + ramp + 5, keep_end)
        out.append(t)
    return out


class Schedule:
    """Heartbeats and ends due, in time order (heaps), and the live count."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.beats: list[tuple[float, int]] = []
        self.ends: list[tuple[float, int]] = []
        self.expiring: deque[float] = deque()  # deadlines of the sessions left to expire
        self.created = self.ended = self.expired = 0

    def add(self, timers: list[Timer], batch: list[Timer]) -> None:
        for t in batch:
            i = len(timers)
            timers.append(t)
            if t.kind == "expire":
                self.expiring.append(t.armed_at + self.timeout)
            else:
                heapq.heappush(self.beats, (t.next_hb, i))
            if t.kind == "end":
                heapq.heappush(self.ends, (t.end_at, i))
        self.created += len(batch)

    def live(self, now: float) -> int:
        while self.expiring and self.expiring[0] <= now:
            self.expiring.popleft()
            self.expired += 1
        return self.created - self.ended - self.expired


def beat_and_end(db: Database, r: redis.Redis, prefix: str, timers: list[Timer],
                 sched: Schedule, now: float, every: float, timeout: float) -> None:
    """One UPDATE for the heartbeats due (the heartbeat's own statement: a live
    session's deadline moves to now + timeout, database clock), one for the ends."""
    end: list[Timer] = []
    while sched.ends and sched.ends[0][0] <= now:
        end.append(timers[heapq.heappop(sched.ends)[1]])
    beat: list[Timer] = []
    while sched.beats and sched.beats[0][0] <= now:
        i = heapq.heappop(sched.beats)[1]
        if not timers[i].done:
            beat.append(timers[i])
            heapq.heappush(sched.beats, (now + every, i))
    if beat:
        for chunk in _chunks(beat):
            with db.transaction() as tx:
                tx.execute(update(GestionSession).where(*_still_live(chunk))
                           .values(last_activity_at=db_now(), deadline_at=db_now() + timeout,
                                   heartbeats=GestionSession.heartbeats + 1)
                           .execution_options(synchronize_session=False))
        pipe = r.pipeline(transaction=False)
        for t in beat:
            pipe.pexpire(f"{prefix}:session:{t.cid}", int(timeout * 1000))
        pipe.execute()
    if end:
        for chunk in _chunks(end):
            with db.transaction() as tx:
                tx.execute(update(GestionSession).where(*_still_live(chunk))
                           .values(status="completed", ended_at=db_now(), resultado="gestionado")
                           .execution_options(synchronize_session=False))
                tx.execute(update(Cliente)
                           .where(Cliente.id.in_([t.cid for t in chunk]))
                           .values(estado="gestionado", current_session_id=None,
                                   updated_at=db_now())
                           .execution_options(synchronize_session=False))
        pipe = r.pipeline(transaction=False)
        for t in end:
            t.done = True
            pipe.delete(f"{prefix}:session:{t.cid}")
        pipe.execute()
        sched.ended += len(end)


def _chunks(timers: list[Timer], size: int = 2000) -> Iterator[list[Timer]]:
    """Heartbeats and ends are written a few thousand sessions per statement."""
    for i in range(0, len(timers), size):
        yield timers[i:i + size]


def _still_live(chunk: list[Timer]) -> tuple[Any, ...]:
    """These sessions, where still live by the database clock."""
    return (GestionSession.id.in_([t.sid for t in chunk]), GestionSession.status == "active",
            GestionSession.deadline_at > db_now())


def report(args: argparse.Namespace, db: Database, out: Run, rss_start: float | None,
           rss_end: float | None, peak_live: int, settings: Settings) -> dict[str, Any]:
    kinds = {t.sid: t.kind for t in out.timers}
    with db.transaction() as tx:
        rows = tx.execute(select(GestionSession.id, GestionSession.status,
                                 GestionSession.deadline_at, GestionSession.ended_at)).all()
    kill, restart = out.events.get("kill"), out.events.get("restart")
    # The kill's window: sessions due from 2 s before the kill (a timeout the
    # dead worker was about to run) to WORKER_INTERVAL + 3 s after the new
    # worker was spawned (the recovery bound of issue 19): the backlog of the
    # sessions due while no worker ran is cleared in it. Reported apart.
    window = ((kill - 2.0, (restart or kill) + settings.worker_interval + 3.0)
              if kill is not None else None)
    lateness, lateness_kill, recovery = [], [], []
    early = lost = wrong = 0
    for sid, status, deadline, ended in rows:
        kind = kinds.get(sid)
        if kind == "expire":
            if status != "timed_out":
                lost += 1
                continue
            late = ended - deadline
            early += late < 0
            if window is not None and window[0] <= deadline <= window[1]:
                lateness_kill.append(late)
                if restart is not None and deadline <= restart:
                    recovery.append(ended - restart)
            else:
                lateness.append(late)
        elif status == "timed_out":
            wrong += 1
    steady = [s for s in out.samples if s["live"] >= 1000]
    per_live = [s["pending"] / s["live"] for s in steady]
    rss = [s["worker_rss_mb"] for s in out.samples if s["worker_rss_mb"] is not None]
    pss = [s["worker_pss_mb"] for s in out.samples if s["worker_pss_mb"] is not None]
    lat = summary(lateness, 3)
    targets = {
        "lateness_p99_le_1s": lat["p99"] is not None and lat["p99"] <= 1.0,
        "lateness_max_le_2s": lat["max"] is not None and lat["max"] <= 2.0,
        "none_early": early == 0, "none_lost": lost == 0, "none_wrong": wrong == 0,
        "worker_rss_peak_le_250mb": bool(rss) and max(rss) <= 250,
        "pending_per_live_session_le_1_1": bool(per_live) and max(per_live) <= 1.1,
        "kill_recovery_le_worker_interval_plus_3s":
            None if not recovery else max(recovery) <= settings.worker_interval + 3,
    }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": out.events.get("load_average_at_start"),
        "load_average_at_end": load_average(),
        "timers": args.timers,
        "peak_live_sessions": peak_live,
        "plan": {"rate_per_s": args.rate, "session_timeout_s": args.timeout,
                 "heartbeat_every_s": args.heartbeat_every, "expire_share": 0.1,
                 "worker_interval_s": settings.worker_interval,
                 "timer_horizon_s": settings.timer_horizon,
                 "timer_drain_interval_s": settings.timer_drain_interval,
                 "kill_down_s": args.kill_down, "worker_concurrency": 2},
        "timeouts": len(lateness) + len(lateness_kill),
        "lateness_s": {k: lat[k] for k in ("p50", "p99", "max")},
        "lateness_kill_window_s": summary(lateness_kill, 3),
        "early": early,
        "lost": lost,
        "wrong_timeouts": wrong,
        "worker_rss_mb": {"start": rss_start, "peak": max(rss) if rss else None,
                          "end": rss_end},
        "worker_pss_mb": {"start": out.events.get("pss_start"),
                          "peak": max(pss) if pss else None, "end": out.events.get("pss_end")},
        "pending_per_live_session": {
            "p50": round(pct(per_live, 0.5), 4) if per_live else None,
            "max": round(max(per_live), 4) if per_live else None},
        "pending_max": max((s["pending"] for s in out.samples), default=0),
        "due_queue_max": max((s["due_queue"] for s in out.samples), default=0),
        "held_by_the_killed_worker": out.held_at_kill,
        "kill_recovery_s": round(max(recovery), 3) if recovery else None,
        "sessions_due_while_no_worker": len(recovery),
        "targets": targets,
        "series": out.samples,
    }
    return result


def markdown(res: dict[str, Any]) -> str:
    lat, rss, ppl = res["lateness_s"], res["worker_rss_mb"], res["pending_per_live_session"]
    rows = [
        ("timers (peak live sessions)", f"{res['timers']:,} ({res['peak_live_sessions']:,})",
         "100,000"),
        ("timeouts", f"{res['timeouts']:,}", ""),
        ("lateness p50 / p99 / max (s)", f"{lat['p50']} / {lat['p99']} / {lat['max']}",
         "p99 ≤ 1, max ≤ 2"),
        ("lateness of the sessions due around the kill p50 / max (s)",
         f"{res['lateness_kill_window_s']['p50']} / {res['lateness_kill_window_s']['max']}", ""),
        ("early / lost / wrong", f"{res['early']} / {res['lost']} / {res['wrong_timeouts']}",
         "0 / 0 / 0"),
        ("worker RSS start / peak / end (MB)", f"{rss['start']} / {rss['peak']} / {rss['end']}",
         "peak ≤ 250"),
        ("worker PSS start / peak / end (MB; shared pages once)",
         f"{res['worker_pss_mb']['start']} / {res['worker_pss_mb']['peak']} / "
         f"{res['worker_pss_mb']['end']}", ""),
        ("pending broker messages per live session p50 / max", f"{ppl['p50']} / {ppl['max']}",
         "≤ 1.1"),
        ("held by the killed worker", f"{res['held_by_the_killed_worker']}", ""),
        ("kill recovery (s after the new worker was spawned)",
         f"{res['kill_recovery_s']} ({res['sessions_due_while_no_worker']} sessions due "
         "while no worker ran)", f"≤ {res['plan']['worker_interval_s'] + 3}"),
    ]
    lines = [f"# bench-timers, {res['when']}", "",
             f"Load average at start {res['load_average_at_start']}, at end "
             f"{res['load_average_at_end']}. Plan: {json.dumps(res['plan'])}.", "",
             "| measure | value | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", "Targets: " + ", ".join(f"{k} {'✔' if v else ('–' if v is None else '✘')}"
                                          for k, v in res["targets"].items()), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timers", type=int, default=100_000, help="sessions armed (N)")
    p.add_argument("--rate", type=float, default=250.0,
                   help="sessions armed per second (10 %% of them time out: 25/s)")
    p.add_argument("--timeout", type=float, default=None,
                   help="SESSION_TIMEOUT (s); default N / rate, so the first timeouts "
                        "fall at the peak")
    p.add_argument("--heartbeat-every", type=float, default=None,
                   help="seconds between two heartbeats of a session (default timeout / 2)")
    p.add_argument("--worker-interval", type=int, default=30_000, help="WORKER_INTERVAL (ms)")
    p.add_argument("--kill-down", type=float, default=10.0,
                   help="seconds the worker stays killed at the peak (0: no kill)")
    p.add_argument("--settle", type=float, default=15.0,
                   help="seconds after the last deadline before counting")
    p.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    p.add_argument("--name", default="timers")
    args = p.parse_args(argv)
    args.timeout = args.timeout or max(5.0, round(args.timers / args.rate))
    args.heartbeat_every = args.heartbeat_every or args.timeout / 2
    backends = choose()
    workdir = Path(tempfile.mkdtemp(prefix="albru-bench-timers-"))
    try:
        res = run(args, backends, workdir)
    finally:
        backends.close()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(markdown(res))
    print(markdown(res))
    print(f"logs: {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
