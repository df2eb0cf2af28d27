"""Where do N pending countdown tasks live? (issue 19, the alternatives.)

`python -m bench.timers_brokers --broker redis|rabbitmq-quorum --tasks N`
starts a bare Celery worker (2 pool processes, no app, no database), sends it
N countdown tasks due `--countdown` s later, and measures the worker's RSS
(main + pool) before and once the broker has handed them over, the messages
the worker holds unacknowledged, and the lateness of each run (its wake-up
minus its due time, both on this machine's clock). `redis` is the engine's
broker today (Celery's ETA tasks, held by the worker until they run);
`rabbitmq-quorum` is Celery 5.5+'s native delayed delivery on RabbitMQ
quorum queues (the broker holds the delays: whole seconds through 28 TTL
queue levels; the remainder is held by the worker). Prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import redis
from celery import Celery
from kombu import Exchange, Queue

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


#: db 7 of the local Redis: no test run claims it (they take 8-15)
REDIS = "redis://127.0.0.1:6379/7"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
COMMON = {"task_serializer": "json", "accept_content": ["json"], "task_ignore_result": True,
          "task_acks_late": True, "worker_hijack_root_logger": False,
          "broker_connection_retry_on_startup": True}

redis_app = Celery("tb_redis", broker=REDIS)
redis_app.conf.update(COMMON, task_default_queue="tb")
quorum_app = Celery("tb_quorum", broker=RABBITMQ)
quorum_app.conf.update(
    COMMON,
    task_queues=[Queue("tb", Exchange("tb", type="topic"), routing_key="tb",
                       queue_arguments={"x-queue-type": "quorum"})],
    task_default_queue="tb", task_default_exchange="tb", task_default_exchange_type="topic",
    task_default_routing_key="tb", worker_detect_quorum_queues=True,
    broker_transport_options={"confirm_publish": True})


def record(due: float) -> None:
    """Record how late it ran."""
    redis.Redis.from_url(REDIS).rpush("tb:late", repr(time.time() - due))


for _app in (redis_app, quorum_app):
    _app.task(name="tb.timeout")(record)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--broker", choices=["redis", "rabbitmq-quorum"], default="redis")
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--countdown", type=float, default=40.0)
    a = p.parse_args(argv)
    from bench.scale import rss_mb, tree  # not in the worker: it imports this module
    from bench.stats import summary
    target = "redis_app" if a.broker == "redis" else "quorum_app"
    app = redis_app if a.broker == "redis" else quorum_app
    res = redis.Redis.from_url(REDIS)
    res.delete("tb:late")
    if a.broker == "redis":
        res.delete("tb", "unacked", "unacked_index", "unacked_mutex")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", f"bench.timers_brokers:{target}", "worker",
         "-Q", "tb", "--concurrency=2", "--without-mingle", "--without-gossip",
         "--loglevel=WARNING", "--purge"], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(8.0)
        before = rss_mb(tree(worker.pid))
        started = time.time()
        for _ in range(a.tasks):
            due = time.time() + a.countdown
            app.send_task("tb.timeout", args=[due], countdown=a.countdown)
        sent_in = time.time() - started
        time.sleep(max(2.0, a.countdown - (time.time() - started) - 5))
        held = rss_mb(tree(worker.pid))
        unacked = int(res.hlen("unacked")) if a.broker == "redis" else None
        end = time.time() + a.countdown + 60
        while time.time() < end and res.llen("tb:late") < a.tasks:
            time.sleep(1.0)
        late = [float(x) for x in res.lrange("tb:late", 0, -1)]
        print(json.dumps({
            "broker": a.broker, "tasks": a.tasks, "countdown_s": a.countdown,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "send_s": round(sent_in, 1), "worker_rss_mb": {"before": before, "holding": held},
            "per_task_kb": round((held - before) * 1024 / a.tasks, 2),
            "unacked_held_by_worker": unacked, "ran": len(late),
            "lateness_s": summary(late, 3)}))
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
