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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from core.counters import LATENESS_BUCKETS, ClusterCounters, MeteredPublisher  # noqa: F401
from core.models import GestionSession
from core.services import Services
from domain.events import Event
from domain.states import SessionStatus

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "<unmatched>"
EXTENSION = "albru.metrics"


@dataclass
class AppMetrics:
    """One app's metrics: its own registry, so two apps in one process (tests,
    tools) never report each other's figures."""

    registry: CollectorRegistry
    http_requests: Counter
    http_latency: Histogram
    socket_events: Counter

    @classmethod
    def build(cls, services: Services, connections: Callable[[], int]) -> AppMetrics:
        registry = CollectorRegistry()
        registry.register(ClusterCollector(services, connections))
        return cls(
            registry=registry,
            http_requests=Counter(
                "albru_http_requests_total", "HTTP requests by route (URL rule) and status",
                ["method", "route", "status"], registry=registry),
            http_latency=Histogram(
                "albru_http_request_duration_seconds", "HTTP request latency by route (URL rule)",
                ["method", "route"], registry=registry,
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)),
            socket_events=Counter(
                "albru_socket_events_total", "Socket.IO events handled by this process "
                "(connect, disconnect, heartbeat, ...)", ["event"], registry=registry),
        )


def app_metrics(app: Flask | None = None) -> AppMetrics | None:
    return (app or current_app).extensions.get(EXTENSION)


class ClusterCollector(Collector):
    """Reads the cluster-wide numbers at scrape time (Redis and the database)."""

    def __init__(self, services: Services, connections: Callable[[], int]) -> None:
        self.services = services
        self.connections = connections

    def collect(self) -> Iterator[Any]:
        comps = self.services
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
            conns.add_metric([], float(self.connections()))
        except Exception:  # noqa: BLE001 - no Socket.IO server in this process
            conns.add_metric([], 0.0)
        yield conns


def init_http_metrics(app: Flask, services: Services, connections: Callable[[], int]) -> None:
    """Time every request by URL rule (never the raw path: /api/clientes/7 and
    /api/clientes/8 are one series) and serve /metrics."""
    metrics = app.extensions[EXTENSION] = AppMetrics.build(services, connections)

    @app.before_request
    def _start_timer() -> None:
        g.setdefault("request_started", time.perf_counter())  # shared with app.logs

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        route = request.url_rule.rule if request.url_rule else UNMATCHED_ROUTE
        metrics.http_requests.labels(request.method, route, str(response.status_code)).inc()
        if started is not None:
            metrics.http_latency.labels(request.method, route).observe(
                time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def serve_metrics() -> Response:
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)
