"""The advisors: an asyncio + aiohttp load generator, one process per share.

    python -m bench.loadgen SPEC.json OUT.json

SPEC says what to play (`mode`):

* `sessions`: every advisor works its own list of clients one after the
  other: start, a heartbeat every `hb_interval` s, end after a random handling
  time; a share (`abandon_share`) stops sending heartbeats part-way and walks
  away, leaving the session to time out, then takes its next client.
* `race`: `advisors` advisors start each pool client at the same instant.
* `capacity`: open-loop rate steps against several endpoints (the heartbeat
  and the no-op), interleaved and repeated, with the web process' CPU time
  per step.
* `pushes`: API calls at a fixed rate whose pushes the GTR listener times.

It prints one JSON progress line a second on stdout and writes its figures
to OUT. Every figure is measured with the wall clock (`time.time()`), as the
GTR listener's are: both run on this machine."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import psutil


class Client:
    """A pool of keep-alive HTTP connections, all from one address (as a call
    center's desks behind one NAT; the front spreads their requests)."""

    def __init__(self, base_url: str, limit: int) -> None:
        self.base = base_url
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(1, limit), force_close=False),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        self.errors: Counter[str] = Counter()

    async def post(self, path: str, body: dict[str, Any], token: str | None = None
                   ) -> tuple[int, dict[str, Any], float, float]:
        """(status, json, latency ms, wall-clock time the answer was read)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        t0 = time.perf_counter()
        try:
            async with self.http.post(self.base + path, json=body, headers=headers) as r:
                data = await r.json(content_type=None)
                status = r.status
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            self.errors[f"{path} {type(exc).__name__}"] += 1
            return 0, {}, (time.perf_counter() - t0) * 1000, time.time()
        ms = (time.perf_counter() - t0) * 1000
        if status >= 400:
            code = data.get("error") if isinstance(data, dict) else ""
            self.errors[f"{path} {status} {code}"] += 1
        return status, data if isinstance(data, dict) else {}, ms, time.time()

    async def close(self) -> None:
        await self.http.close()


class Sessions:
    """The `sessions` mode."""

    def __init__(self, spec: dict[str, Any], client: Client) -> None:
        self.spec = spec
        self.c = client
        self.rng = random.Random(spec.get("seed", 1))
        self.t_end = spec["t0"] + spec["duration"]
        self.start_ms: list[float] = []
        self.hb: list[tuple[float, float]] = []  # (time sent, ms)
        self.hb_lag: list[float] = []  # ms the loadgen sent a heartbeat after its schedule
        self.end_ms: list[float] = []
        self.calls: list[tuple[str, str, float]] = []  # (event, session_id, answer time)
        self.abandoned: dict[str, float] = {}  # session_id -> deadline the advisor was told
        self.counts: Counter[str] = Counter()
        self.active = 0

    async def run(self) -> dict[str, Any]:
        advisors = self.spec["advisors"]
        rate = self.spec["start_rate"]
        tasks = [asyncio.create_task(self.advisor(a, self.spec["t0"] + i / rate))
                 for i, a in enumerate(advisors)]
        reporter = asyncio.create_task(report(lambda: {**self.counts, "active": self.active}))
        # the phase ends at t_end; a call still waiting then has a minute to answer
        _, late = await asyncio.wait(tasks, timeout=max(1.0, self.t_end + 60 - time.time()))
        for task in late:
            task.cancel()
        self.counts["cut_at_the_end"] = len(late)
        reporter.cancel()
        return {
            "start_ms": self.start_ms, "hb": self.hb, "hb_lag_ms": self.hb_lag,
            "end_ms": self.end_ms, "calls": self.calls, "abandoned": self.abandoned,
            "counts": dict(self.counts), "errors": dict(self.c.errors),
        }

    async def sleep_until(self, t: float) -> bool:
        """False when the phase is over before t."""
        if t >= self.t_end:
            await asyncio.sleep(max(0.0, self.t_end - time.time()))
            return False
        await asyncio.sleep(max(0.0, t - time.time()))
        return True

    async def advisor(self, adv: dict[str, Any], first: float) -> None:
        s = self.spec
        token = adv["token"]
        if not await self.sleep_until(first):
            return
        for cid in adv["clientes"]:
            if time.time() >= self.t_end:
                return
            status, data, ms, t1 = await self.c.post("/api/sessions/start", {"cliente_id": cid},
                                                     token)
            self.counts["starts"] += 1
            if status != 201:
                continue
            self.start_ms.append(ms)
            sid, deadline = data["session_id"], data["deadline"]
            self.calls.append(("CLIENT_IN_GESTION", sid, t1))
            self.active += 1
            begun = time.time()
            handling = self.rng.uniform(*s["handling"])
            abandon = self.rng.random() < s["abandon_share"]
            stop_at = begun + (self.rng.uniform(0.0, handling) if abandon else handling)
            due = begun + self.rng.uniform(0.2, 1.0) * s["hb_interval"]
            alive = True
            while due < stop_at:
                if not await self.sleep_until(due):
                    return
                lag = (time.time() - due) * 1000
                status, data, ms, _ = await self.c.post(
                    "/api/sessions/heartbeat", {"cliente_id": cid, "session_id": sid}, token)
                self.counts["heartbeats"] += 1
                self.hb.append((due, round(ms, 3)))
                self.hb_lag.append(round(lag, 3))
                if status != 200:
                    self.counts["heartbeat_refused"] += 1
                    alive = False
                    break
                deadline = data["deadline"]
                due += s["hb_interval"]
            if not await self.sleep_until(stop_at):
                return
            self.active -= 1
            if not alive:
                continue
            if abandon:
                self.abandoned[sid] = deadline
                self.counts["abandoned"] += 1
                # the advisor is away until the session has timed out
                if not await self.sleep_until(deadline + 1.0):
                    return
                continue
            status, data, ms, t1 = await self.c.post(
                "/api/sessions/end", {"cliente_id": cid, "session_id": sid,
                                      "resultado": "gestionado"}, token)
            if status == 200:
                self.end_ms.append(ms)
                self.calls.append(("CLIENT_COMPLETED", sid, t1))
                self.counts["ended"] += 1


async def report(what) -> None:
    while True:
        await asyncio.sleep(1.0)
        sys.stdout.write(json.dumps({"progress": what()}) + "\n")
        sys.stdout.flush()


async def race(spec: dict[str, Any], c: Client) -> dict[str, Any]:
    """Every advisor starts the same pool client at once; exactly one may win."""
    outcomes = []
    for cid in spec["clientes"]:
        answers = await asyncio.gather(*(c.post("/api/sessions/start", {"cliente_id": cid}, t)
                                         for t in spec["tokens"]))
        statuses = [a[0] for a in answers]
        outcomes.append({"cliente_id": cid, "won": statuses.count(201),
                         "locked": statuses.count(409), "other": len(statuses)
                         - statuses.count(201) - statuses.count(409)})
    return {"race": outcomes, "errors": dict(c.errors)}


async def capacity(spec: dict[str, Any], c: Client) -> dict[str, Any]:
    """Open-loop rate steps against several endpoints (`kinds`: the heartbeat
    and the no-op), interleaved: per repetition, per rate, one step of each
    kind (the order alternating), so a shared machine's noise falls on both.
    A step lasts `step_seconds` or `min_requests` requests, whichever is
    longer; a kind stops climbing in a repetition at its first failing step
    (p99 over the limit, answers missing, or the step falling behind).
    Untimed warm-up requests run after the sessions are started."""
    kinds: dict[str, dict[str, Any]] = spec["kinds"]  # name -> {path, targets}
    web = psutil.Process(spec["web_pid"])
    for kind in kinds.values():  # the sessions the heartbeats keep alive
        for tgt in kind["targets"]:
            await c.post("/api/sessions/start", {"cliente_id": tgt["cliente_id"]},
                         tgt["token"])
    n = 0

    async def one(kind: dict[str, Any], i: int, latencies: list[float],
                  statuses: Counter[int]) -> None:
        if kind["targets"]:
            tgt = kind["targets"][i % len(kind["targets"])]
            status, _, ms, _ = await c.post(kind["path"], {"cliente_id": tgt["cliente_id"]},
                                            tgt["token"])
        else:
            status, _, ms, _ = await c.post(kind["path"], {"id": i})
        statuses[status] += 1
        latencies.append(ms)

    for kind in kinds.values():  # warm-up: pools, caches, lazy imports; untimed, paced
        t0, warm = time.time(), spec.get("warmup", 300)  # (a burst would itself be the spike)
        pending = []
        for k in range(warm):
            await asyncio.sleep(max(0.0, t0 + k / 100 - time.time()))
            pending.append(asyncio.create_task(one(kind, k, [], Counter())))
        await asyncio.gather(*pending)
    await asyncio.sleep(1.0)
    steps: list[dict[str, Any]] = []
    for rep in range(spec.get("repetitions", 1)):
        climbing = list(kinds) if rep % 2 == 0 else list(reversed(kinds))
        for rate in spec["rates"]:
            for name in list(climbing):
                latencies: list[float] = []
                statuses: Counter[int] = Counter()
                count = max(int(spec.get("min_requests", 0)), int(rate * spec["step_seconds"]))
                cpu0 = sum(web.cpu_times()[:2])
                me0 = sum(psutil.Process().cpu_times()[:2])
                t0 = time.time()
                pending = []
                for k in range(count):
                    await asyncio.sleep(max(0.0, t0 + k / rate - time.time()))
                    pending.append(asyncio.create_task(one(kinds[name], n, latencies, statuses)))
                    n += 1
                await asyncio.gather(*pending)
                wall = time.time() - t0
                cpu = sum(web.cpu_times()[:2]) - cpu0
                ordered = sorted(latencies)
                p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
                ok = statuses.get(200, 0)
                passed = (p99 < spec["p99_limit_ms"] and ok >= 0.95 * count
                          and wall <= count / rate * 1.2)
                step = {"kind": name, "rep": rep + 1, "rate": rate, "requests": count, "ok": ok,
                        "achieved_per_s": round(ok / wall, 1),
                        "p50_ms": round(ordered[len(ordered) // 2], 2), "p99_ms": round(p99, 2),
                        "max_ms": round(ordered[-1], 2), "web_cpu_s": round(cpu, 3),
                        "loadgen_cpu_s": round(sum(psutil.Process().cpu_times()[:2]) - me0, 3),
                        "wall_s": round(wall, 2), "passed": passed}
                steps.append(step)
                sys.stdout.write(json.dumps({"progress": step}) + "\n")
                sys.stdout.flush()
                if not passed:
                    climbing.remove(name)
                await asyncio.sleep(0.5)
            if not climbing:
                break
    return {"steps": steps, "errors": dict(c.errors)}


async def pushes(spec: dict[str, Any], c: Client) -> dict[str, Any]:
    """`count` calls at `rate`/s; the listener times each push by its key."""
    calls = []
    t0 = time.time()
    for i, item in enumerate(spec["items"]):
        await asyncio.sleep(max(0.0, t0 + i / spec["rate"] - time.time()))
        status, _, ms, t1 = await c.post(item["path"], item["body"], spec.get("token"))
        calls.append({"key": item["key"], "status": status, "ms": ms, "t": t1})
    return {"calls": calls, "errors": dict(c.errors)}


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    c = Client(spec["base_url"], spec.get("connections", 256))
    try:
        mode = spec["mode"]
        if mode == "sessions":
            out = await Sessions(spec, c).run()
        elif mode == "race":
            out = await race(spec, c)
        elif mode == "capacity":
            out = await capacity(spec, c)
        elif mode == "pushes":
            out = await pushes(spec, c)
        else:
            raise SystemExit(f"unknown mode {mode}")
    finally:
        await c.close()
    me = psutil.Process().cpu_times()
    out["cpu_s"] = round(me.user + me.system, 2)
    return out


if __name__ == "__main__":
    spec_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    result = asyncio.run(main(json.loads(spec_path.read_text())))
    out_path.write_text(json.dumps(result))
