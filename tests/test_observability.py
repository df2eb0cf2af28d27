"""Metrics and logs on the real stack: /metrics of the web process (HTTP by
route, sessions, timeouts counted by the Celery worker, sockets) and the log
lines of web, socket events and tasks, with their context fields."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.stack import Stack
from tests.conftest import backends, for_cliente
from tests.test_ops import poll


def scrape(api) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    r = api.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


ROUTE = "/api/clientes/<id:cliente_id>"


def test_http_requests_are_counted_by_route_not_path(factory, api):
    gtr = factory.token(factory.gtr())
    a, b = factory.cliente(), factory.cliente()
    before = scrape(api)
    for c in (a, b):
        assert api.get(f"/api/clientes/{c.id}", gtr).status_code == 200
    assert api.get("/api/clientes/999999999", gtr).status_code == 404
    assert api.get("/no/such/page").status_code == 404
    after = scrape(api)
    labels = {"method": "GET", "route": ROUTE}
    assert value(after, "albru_http_requests_total", status="200", **labels) \
        - value(before, "albru_http_requests_total", status="200", **labels) == 2
    assert value(after, "albru_http_requests_total", status="404", **labels) \
        - value(before, "albru_http_requests_total", status="404", **labels) == 1
    assert value(after, "albru_http_requests_total", method="GET", route="<unmatched>",
                 status="404") >= 1
    assert value(after, "albru_http_request_duration_seconds_count", **labels) \
        - value(before, "albru_http_request_duration_seconds_count", **labels) == 3
    raw_paths = [k for k in after if any(v == f"/api/clientes/{a.id}" for _, v in k[1])]
    assert not raw_paths, raw_paths


@pytest.mark.stack
def test_timeouts_fired_by_the_worker_reach_the_web_metrics(factory, api, listen, stack):
    """The worker times the session out; the web process exports the count."""
    asesor = factory.asesor()
    gtr = listen(factory.token(factory.gtr()))
    c = factory.cliente("derivado", asesor.id)
    before = scrape(api)
    r = api.post("/api/sessions/start", factory.token(asesor), json={"cliente_id": c.id})
    assert r.status_code == 201, r.text
    during = scrape(api)
    assert value(during, "albru_active_sessions", scope="cluster") >= 1
    assert value(during, "albru_socket_connections") >= 1
    gtr.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(c.id), timeout=stack.session_timeout + 15)
    after = poll(lambda: scrape(api),
                 lambda s: value(s, "albru_session_timeouts_total", scope="cluster")
                 > value(before, "albru_session_timeouts_total", scope="cluster"))
    assert value(after, "albru_session_timeouts_total", scope="cluster") \
        >= value(before, "albru_session_timeouts_total", scope="cluster") + 1
    count = "albru_session_timeout_lateness_seconds_count"
    assert value(after, count, scope="cluster") >= value(before, count, scope="cluster") + 1
    inf = value(after, "albru_session_timeout_lateness_seconds_bucket", le="+Inf", scope="cluster")
    assert inf == value(after, count, scope="cluster")
    assert value(after, "albru_session_timeout_lateness_seconds_sum", scope="cluster") >= 0
    for event in ("CLIENT_IN_GESTION", "CLIENT_RETURNED_TO_GTR"):
        assert value(after, "albru_events_pushed_total", event=event, scope="cluster") \
            >= value(before, "albru_events_pushed_total", event=event, scope="cluster") + 1
    assert value(after, "albru_socket_events_total", event="connect") >= 1


@pytest.mark.stack
def test_task_log_lines_name_the_task_and_session(factory, api, listen, stack):
    asesor = factory.asesor()
    gtr = listen(factory.token(factory.gtr()))
    c = factory.cliente("derivado", asesor.id)
    r = api.post("/api/sessions/start", factory.token(asesor), json={"cliente_id": c.id})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    gtr.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(c.id), timeout=stack.session_timeout + 15)
    pattern = re.compile(rf"task_id=\S+ task_name=albru\.session_timeout\]: .*{sid}|"
                         rf"session_id={sid} .*task_id=\S+ task_name=albru\.session_timeout")
    log = poll(lambda: stack.log("worker"), lambda text: pattern.search(text) is not None)
    assert pattern.search(log), log[-3000:]


# ------------------------------------------------------------- JSON logs


@pytest.fixture
def json_web(tmp_path: Path, db):
    """A second web process, in production log format (JSON)."""
    s = Stack(backends(), tmp_path, LOG_FORMAT="json")
    s.start_web()
    s.wait_live()
    yield s
    s.stop()


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.stack
def test_json_access_log_with_request_id_user_and_session(json_web, factory):
    from tests.conftest import Api, Listener

    api = Api(json_web.base_url)
    secret = json_web.env["JWT_SECRET"]
    asesor = factory.asesor()
    token = factory.__class__(factory.db, secret).token(asesor)
    c = factory.cliente("derivado", asesor.id)
    rid = f"req-{uuid.uuid4().hex[:10]}"
    r = api.post("/api/sessions/start", token, json={"cliente_id": c.id},
                 headers={"X-Request-ID": rid})
    assert r.status_code == 201, r.text
    assert r.headers["X-Request-ID"] == rid
    session_id = r.json()["session_id"]
    bad = api.get("/api/health?live=1", headers={"X-Request-ID": "not ok; <script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["X-Request-ID"]), bad.headers

    ws = Listener(json_web.base_url, token)
    ack = ws.client.call("heartbeat", {"cliente_id": c.id}, timeout=10)
    assert ack["session_id"] == session_id, ack
    ws.close()
    assert api.post("/api/sessions/end", token,
                    json={"cliente_id": c.id, "resultado": "gestionado"}).status_code == 200

    def lines():
        text = json_web.log("web")
        for line in text.splitlines():
            if line.startswith("{"):
                json.loads(line)  # every structured line is valid JSON
        return json_lines(text)

    def found(entries):
        return (any(e.get("request_id") == rid and e.get("logger") == "albru.access"
                    for e in entries)
                and any(e.get("logger") == "albru.socket" and e.get("event") == "heartbeat"
                        for e in entries))

    entries = poll(lines, found)
    access = [e for e in entries if e.get("request_id") == rid and e["logger"] == "albru.access"]
    assert len(access) == 1, access
    line = access[0]
    assert line["route"] == "/api/sessions/start" and line["status"] == 201
    assert line["method"] == "POST" and line["duration_ms"] >= 0
    assert line["user_id"] == asesor.id and line["user"] == asesor.username
    assert line["cliente_id"] == c.id and line["session_id"] == session_id
    assert line["level"] == "INFO" and line["ts"].endswith("+00:00")
    beat = [e for e in entries if e.get("logger") == "albru.socket" and e["event"] == "heartbeat"]
    assert beat and beat[0]["user_id"] == asesor.id and beat[0]["cliente_id"] == c.id
    assert beat[0]["sid"] and beat[0]["outcome"] == "ok"
    assert "Traceback" not in json_web.log("web")


def test_cluster_counters_histogram_arithmetic(rds):
    """Lateness lands in every bucket at or above it; other pushes only count."""
    import redis as redis_lib

    from core.counters import ClusterCounters, MeteredPublisher
    from domain.events import Event, Push

    counters = ClusterCounters(redis_lib.Redis.from_url(backends().redis_url),
                               f"albru-unit-{uuid.uuid4().hex[:8]}")
    sent: list = []

    class Sink:
        def publish(self, pushes):
            sent.extend(pushes)

    def returned(reason: str, deadline: float, ts: float) -> Push:
        return Push(Event.CLIENT_RETURNED_TO_GTR,
                    {"reason": reason, "deadline": deadline, "ts": ts}, ["gtr-room"])

    publisher = MeteredPublisher(Sink(), counters)
    publisher.publish([returned("timeout", 100.0, 100.3), returned("timeout", 50.0, 57.0),
                       returned("released", 10.0, 99.0),
                       Push(Event.CLIENT_CREATED, {"count": 1}, ["gtr-room"])])
    assert len(sent) == 4
    v = counters.read()
    try:
        assert v["timeouts"] == 2 and v["lateness:count"] == 2
        assert v["lateness:sum"] == pytest.approx(7.3)
        assert v.get("lateness:le:0.25", 0) == 0
        assert v["lateness:le:0.5"] == 1 and v["lateness:le:5.0"] == 1
        assert v["lateness:le:10.0"] == 2 and v["lateness:le:300.0"] == 2
        assert v["pushed:CLIENT_RETURNED_TO_GTR"] == 3 and v["pushed:CLIENT_CREATED"] == 1
    finally:
        rds.delete(counters.key)
