"""Prometheus metrics, served at /metrics by every web process.

Two kinds, on purpose:

* **Per process** (HTTP requests by route and status, request latency, Socket.IO
  connections and events of this process): plain `prometheus_client` objects in
  the process' memory. Each web container runs ONE process and Prometheus
  scrapes each replica on the internal network, so nothing is lost or mixed.
* **Cluster-wide** (timeouts fired, timeout lateness, events pushed): these
  happen mostly in Celery workers, which serve no HTTP and fork pool processes
  that come and go. They are counted in Redis (HINCRBY / HINCRBYFLOAT, atomic,
  shared by every process, survive a worker restart) and exported at scrape
  time by `ClusterCollector`. Every web replica exports the same cluster
  totals (label `scope="cluster"`): aggregate them with `max`, not `sum`.
  Active sessions are read from the database at scrape time, also cluster-wide.

Celery's own metrics (tasks, queue, workers) come from Flower's /metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from core.breaker import CircuitOpen
from core.models import GestionSession
from domain.events import Event, Push
from domain.states import SessionStatus

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "albru_http_requests_total", "HTTP requests by route (URL rule) and status",
    ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "albru_http_request_duration_seconds", "HTTP request latency by route (URL rule)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
SOCKET_EVENTS = Counter(
    "albru_socket_events_total", "Socket.IO events handled by this process (connect, "
    "disconnect, heartbeat, ...)", ["event"])
#: Upper bounds (seconds) of the timeout lateness histogram kept in Redis.
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
UNMATCHED_ROUTE = "<unmatched>"


class ClusterCounters:
    """Counters shared by every process, kept in one Redis hash. A failed
    increment is logged and dropped: metrics must never break a transition."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.key = f"{prefix}:metrics"

    def record_pushes(self, pushes: Iterable[Push]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        n = 0
        for push in pushes:
            n += 1
            pipe.hincrby(self.key, f"pushed:{push.event.value}", 1)
            payload = push.payload if isinstance(push.payload, dict) else {}
            if push.event is Event.CLIENT_RETURNED_TO_GTR and payload.get("reason") == "timeout":
                pipe.hincrby(self.key, "timeouts", 1)
                deadline, fired = payload.get("deadline"), payload.get("ts")
                if isinstance(deadline, int | float) and isinstance(fired, int | float):
                    lateness = max(0.0, float(fired) - float(deadline))
                    pipe.hincrbyfloat(self.key, "lateness:sum", lateness)
                    pipe.hincrby(self.key, "lateness:count", 1)
                    for bound in LATENESS_BUCKETS:
                        if lateness <= bound:
                            pipe.hincrby(self.key, f"lateness:le:{bound}", 1)
        if not n:
            return
        try:
            pipe.execute()
        except CircuitOpen:
            log.debug("metrics not recorded: Redis down")  # the breaker said so once
        except redis.RedisError as exc:
            log.warning("metrics not recorded: %s", exc)

    def read(self) -> dict[str, float]:
        raw = self.redis.hgetall(self.key)
        return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}


class MeteredPublisher:
    """The publisher every process uses, counting what it pushes (a timeout is
    a CLIENT_RETURNED_TO_GTR push with reason "timeout"; its envelope carries
    the deadline and the instant it fired, hence the lateness)."""

    def __init__(self, inner: Any, counters: ClusterCounters) -> None:
        self.inner = inner
        self.counters = counters

    def publish(self, pushes: Iterable[Push]) -> None:
        pushes = list(pushes)
        self.inner.publish(pushes)
        self.counters.record_pushes(pushes)

    def __getattr__(self, name: str) -> Any:
        """Anything else the publisher offers is the publisher's own."""
        return getattr(self.inner, name)


class ClusterCollector(Collector):
    """Reads the cluster-wide numbers at scrape time (Redis and the database)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        comps = self.app.extensions["albru"]
        try:
            values = comps.metrics.read()
        except redis.RedisError as exc:
            log.warning("cluster metrics unavailable: %s", exc)
            values = {}
        pushed = CounterMetricFamily("albru_events_pushed", "Socket.IO events pushed by "
                                     "every process (web and workers)", labels=["event", "scope"])
        for event in Event:
            pushed.add_metric([event.value, "cluster"], values.get(f"pushed:{event.value}", 0.0))
        yield pushed
        timeouts = CounterMetricFamily("albru_session_timeouts", "Sessions timed out (fired "
                                       "by the timeout task or the sweep)", labels=["scope"])
        timeouts.add_metric(["cluster"], values.get("timeouts", 0.0))
        yield timeouts
        lateness = HistogramMetricFamily(
            "albru_session_timeout_lateness_seconds",
            "How long after its deadline a session was timed out (database clock)",
            labels=["scope"])
        buckets = [(str(b), values.get(f"lateness:le:{b}", 0.0)) for b in LATENESS_BUCKETS]
        buckets.append(("+Inf", values.get("lateness:count", 0.0)))
        lateness.add_metric(["cluster"], buckets, values.get("lateness:sum", 0.0))
        yield lateness
        active = GaugeMetricFamily("albru_active_sessions", "Live handling sessions "
                                   "(read from the database at scrape time)", labels=["scope"])
        try:
            with comps.db.transaction() as tx:
                live = tx.execute(select(func.count()).select_from(GestionSession)
                                  .where(GestionSession.status == SessionStatus.ACTIVE.value))
                active.add_metric(["cluster"], float(live.scalar_one()))
        except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
            log.warning("active sessions unavailable: %s", exc)
        yield active
        conns = GaugeMetricFamily("albru_socket_connections", "Socket.IO connections open "
                                  "on this web process")
        try:
            from app.sockets import local_stats

            conns.add_metric([], float(local_stats()["connections"]))
        except Exception:  # noqa: BLE001 - no Socket.IO server in this process
            conns.add_metric([], 0.0)
        yield conns


_collector_registered = False


def init_http_metrics(app: Flask, registry: CollectorRegistry = REGISTRY) -> None:
    """Time every request by URL rule (never the raw path: /api/clientes/7 and
    /api/clientes/8 are one series) and serve /metrics."""
    global _collector_registered
    if not _collector_registered:
        registry.register(ClusterCollector(app))
        _collector_registered = True

    @app.before_request
    def _start_timer() -> None:
        g.setdefault("request_started", time.perf_counter())  # shared with app.logs

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        route = request.url_rule.rule if request.url_rule else UNMATCHED_ROUTE
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        if started is not None:
            HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
