"""Real-time pushes a supervisor can trust: sequence numbers, one envelope,
resume without gaps or duplicates, snapshots, per-room delivery, two web
processes on one message queue, statistics, and bad input on the socket.

The whole module runs once per async mode (eventlet and gevent): two web
processes, a worker and beat, real python-socketio clients."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from domain.events import ENVELOPE
from harness.stack import Stack
from tests.conftest import Api, Factory, Listener, backends, connect_error_of, for_cliente

pytestmark = pytest.mark.stack  # real Socket.IO servers, one per async mode


ASYNC_MODES = ["eventlet", "gevent"]
SNAPSHOT_LOG_LEN = 100  # EVENT_LOG_MAX_LEN of these stacks: small, to test snapshots


class RT:
    """Two web processes (web, web2) sharing one Redis channel, a worker, beat."""

    def __init__(self, stack: Stack, url2: str) -> None:
        self.stack = stack
        self.url1 = stack.base_url
        self.url2 = url2
        self.api1 = Api(self.url1)
        self.api2 = Api(url2)


@pytest.fixture(scope="module", params=ASYNC_MODES)
def rt(request, db, tmp_path_factory) -> Iterator[RT]:
    mode = request.param
    logdir = Path(tmp_path_factory.mktemp(f"rt-{mode}"))
    stack = Stack(backends(), logdir, ASYNC_MODE=mode,
                  EVENT_LOG_MAX_LEN=str(SNAPSHOT_LOG_LEN), EXTEND_PUSH_INTERVAL="1")
    try:
        stack.start()
        url2 = stack.start_extra_web("web2", SOCKETIO_PING_INTERVAL="7",
                                     SOCKETIO_PING_TIMEOUT="9")
    except Exception:
        stack.stop()
        raise
    yield RT(stack, url2)
    stack.stop()


@pytest.fixture
def f(rt: RT, db) -> Factory:
    return Factory(db, rt.stack.env["JWT_SECRET"])


@pytest.fixture
def opened() -> Iterator[list]:
    clients: list = []
    yield clients
    for c in clients:
        with contextlib.suppress(Exception):
            c.close()


def open_listener(opened: list, url: str, token: str, **kw: Any) -> Listener:
    listener = Listener(url, token, **kw)
    opened.append(listener)
    return listener


class Resumer:
    """A client as a real screen would be: reconnects by itself and, each time,
    tells the server the last seq it applied (auth is re-read at reconnect)."""

    def __init__(self, url: str, token: str, last_seq: int | None) -> None:
        self.token = token
        self.last = last_seq
        self.seqs: list[int] = []
        self.duplicates = 0
        self.resyncs: list[dict] = []
        self.state: dict[int, tuple[str, int | None]] = {}  # cliente -> (estado, asesor)
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.2,
                                      reconnection_delay_max=0.5, randomization_factor=0)
        self.client.on("*", self._on_any)
        self.client.connect(url, auth=self._auth, transports=["websocket"], wait_timeout=10)

    def _auth(self) -> dict:
        with self.lock:
            return {"token": self.token, "last_seq": self.last}

    def _on_any(self, event: str, data: Any = None) -> None:
        with self.lock:
            if event == "resync":
                self.resyncs.append(data)
                return
            if not isinstance(data, dict) or not isinstance(data.get("seq"), int):
                return
            if self.last is not None and data["seq"] <= self.last:
                self.duplicates += 1
                return
            self.seqs.append(data["seq"])
            self.last = data["seq"]
            if data.get("cliente_id") is not None:
                self.state[data["cliente_id"]] = (data["estado"], data["asesor_id"])

    def received(self) -> tuple[list[int], int | None]:
        """(the seqs applied, the last one), read together."""
        with self.lock:
            return list(self.seqs), self.last

    def cut(self) -> None:
        """Drop the TCP connection under the client, as a network failure does."""
        self.client.eio.ws.sock.shutdown(socket.SHUT_RDWR)

    def wait_resyncs(self, n: int, timeout: float = 15) -> None:
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if len(self.resyncs) >= n and self.client.connected:
                    return
            time.sleep(0.05)
        raise AssertionError(f"only {len(self.resyncs)} resyncs (wanted {n})")

    def wait_seq(self, seq: int, timeout: float = 15) -> None:
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if self.last is not None and self.last >= seq:
                    return
            time.sleep(0.05)
        raise AssertionError(f"client stopped at seq {self.last}, wanted {seq}")

    def close(self) -> None:
        self.client.reconnection = False
        if self.client.connected:
            self.client.disconnect()


def last_seq(api: Api, token: str) -> int:
    """The log's end, as the board snapshot reports it."""
    return api.get("/api/board", token).json()["seq"]


def derived(f: Factory, api: Api, gtr_token: str, asesor_id: int | None) -> int:
    c = f.cliente()
    body = {"asesor_id": asesor_id} if asesor_id else {}
    r = api.post(f"/api/clientes/{c.id}/derivar", gtr_token, json=body)
    assert r.status_code == 200, r.text
    return c.id


# ------------------------------------------------------------------ envelope


def test_every_event_carries_the_documented_envelope_in_seq_order(rt: RT, f: Factory, opened):
    gtr, a = f.gtr(), f.asesor()
    gt, at = f.token(gtr), f.token(a)
    ws = open_listener(opened, rt.url1, gt)
    cid = derived(f, rt.api1, gt, a.id)
    s = rt.api1.post("/api/sessions/start", at, json={"cliente_id": cid}).json()
    rt.api1.post("/api/sessions/end", at, json={"cliente_id": cid, "resultado": "gestionado"})
    done, _ = ws.wait_for("CLIENT_COMPLETED", for_cliente(cid))
    evs = [d for n, d, _ in ws.events if isinstance(d, dict) and d.get("cliente_id") == cid]
    assert [e["type"] for e in evs] == ["CLIENT_DERIVED", "CLIENT_IN_GESTION", "CLIENT_COMPLETED"]
    for e in evs:
        assert set(ENVELOPE) <= set(e), e
        assert isinstance(e["seq"], int) and isinstance(e["ts"], float)
    assert [e["seq"] for e in evs] == sorted(e["seq"] for e in evs)
    started = evs[1]
    assert (started["session_id"], started["asesor_id"], started["estado"]) == (
        s["session_id"], a.id, "en_gestion")
    assert started["deadline"] == pytest.approx(s["deadline"], abs=1e-3)
    assert (done["estado"], done["asesor_id"], done["deadline"]) == ("gestionado", a.id, None)
    # The GTR room receives every event: its seqs have no holes.
    seqs = [d["seq"] for _, d, _ in ws.events if isinstance(d, dict) and "seq" in d]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # The same events are in the durable log, identical.
    logged = rt.api1.get(f"/api/events?after={evs[0]['seq'] - 1}", gt).json()["events"]
    assert [e for e in logged if e.get("cliente_id") == cid] == evs


def test_events_after_requires_a_valid_position(rt: RT, f: Factory):
    gt = f.token(f.gtr())
    for query in ("", "?after=x", "?after=-1", "?after=1&limit=0", "?after=1&limit=5000"):
        r = rt.api1.get(f"/api/events{query}", gt)
        assert r.status_code == 422 and r.json()["field"] in ("after", "limit"), (query, r.text)
    assert rt.api1.get("/api/events?after=0").status_code == 401


# ----------------------------------------------------------- rooms, processes


def test_an_advisor_sees_only_their_clients_and_the_pool(rt: RT, f: Factory, opened):
    gt = f.token(f.gtr())
    a, b = f.asesor(), f.asesor()
    wa = open_listener(opened, rt.url1, f.token(a))
    wb = open_listener(opened, rt.url2, f.token(b))
    mine = derived(f, rt.api1, gt, a.id)
    theirs = derived(f, rt.api1, gt, b.id)
    pool = derived(f, rt.api1, gt, None)
    wa.wait_for("CLIENT_DERIVED", for_cliente(mine))
    wa.wait_for("CLIENT_DERIVED", for_cliente(pool))
    wb.wait_for("CLIENT_DERIVED", for_cliente(theirs))
    wb.wait_for("CLIENT_DERIVED", for_cliente(pool))
    time.sleep(0.5)
    assert not wa.received("CLIENT_DERIVED", for_cliente(theirs))
    assert not wb.received("CLIENT_DERIVED", for_cliente(mine))
    # The same filter applies to what the log replays over REST.
    after = min(d["seq"] for d in wa.received("CLIENT_DERIVED")) - 1
    seen_a = {e["cliente_id"] for e in
              rt.api1.get(f"/api/events?after={after}", f.token(a)).json()["events"]}
    assert {mine, pool} <= seen_a and theirs not in seen_a


def test_events_cross_web_processes_and_come_from_the_worker(rt: RT, f: Factory, opened):
    gt = f.token(f.gtr())
    a = f.asesor()
    at = f.token(a)
    on1 = open_listener(opened, rt.url1, gt)
    on2 = open_listener(opened, rt.url2, gt)
    cid = derived(f, rt.api1, gt, a.id)  # caused through web 1
    on2.wait_for("CLIENT_DERIVED", for_cliente(cid))
    assert rt.api2.post("/api/sessions/start", at, json={"cliente_id": cid}).status_code == 201
    on1.wait_for("CLIENT_IN_GESTION", for_cliente(cid))  # caused through web 2
    # No heartbeat: the Celery worker times it out; both processes deliver it.
    timeout = rt.stack.session_timeout + rt.stack.worker_interval + 5
    e1, _ = on1.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cid), timeout=timeout)
    e2, _ = on2.wait_for("CLIENT_RETURNED_TO_GTR", for_cliente(cid), timeout=timeout)
    assert e1 == e2 and e1["reason"] == "timeout"


def test_gtr_gets_the_deadlines_heartbeats_moved_in_one_batch(rt: RT, f: Factory, opened):
    gt = f.token(f.gtr())
    a = f.asesor()
    at = f.token(a)
    gtr_ws = open_listener(opened, rt.url2, gt)
    advisor_ws = open_listener(opened, rt.url1, at)
    cid = derived(f, rt.api1, gt, a.id)
    s = rt.api1.post("/api/sessions/start", at, json={"cliente_id": cid}).json()
    time.sleep(0.3)
    hb = rt.api1.post("/api/sessions/heartbeat", at, json={"cliente_id": cid}).json()
    assert hb["deadline"] > s["deadline"]

    def moved(d: dict) -> bool:
        return abs(d["deadlines"].get(str(cid), 0) - hb["deadline"]) < 1e-3

    ev, _ = gtr_ws.wait_for("SESSIONS_EXTENDED", moved, timeout=5)
    assert ev["sessions"][str(cid)] == s["session_id"] and ev["cliente_id"] is None
    assert isinstance(ev["seq"], int)
    rt.api1.post("/api/sessions/end", at, json={"cliente_id": cid, "resultado": "cerrado"})
    assert not advisor_ws.received("SESSIONS_EXTENDED")


# -------------------------------------------------------------------- resume


def test_a_cut_client_resumes_without_gaps_or_duplicates(rt: RT, f: Factory, opened):
    """Connections are cut three times while events flow; the client ends with
    every event once, in order, and the same state as the database."""
    gtr = f.gtr()
    gt = f.token(gtr)
    advisors = [f.asesor() for _ in range(3)]
    tokens = {a.id: f.token(a) for a in advisors}
    start = last_seq(rt.api1, gt)
    client = Resumer(rt.url2, gt, start)
    opened.append(client)
    client.wait_resyncs(1)
    stop = threading.Event()
    touched: list[int] = []
    errors: list[str] = []

    def traffic() -> None:
        i = 0
        while not stop.is_set():
            a = advisors[i % len(advisors)]
            api = rt.api1 if i % 2 else rt.api2
            try:
                cid = derived(f, api, gt, a.id)
                touched.append(cid)
                api.post("/api/sessions/start", tokens[a.id], json={"cliente_id": cid})
                if i % 3:
                    api.post("/api/sessions/end", tokens[a.id],
                             json={"cliente_id": cid, "resultado": "gestionado"})
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
            i += 1

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        for n in range(3):
            time.sleep(0.7)
            client.cut()
            time.sleep(0.4)  # events flow while it is away
            client.wait_resyncs(n + 2)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join()
    assert not errors, errors
    # Sessions left open time out: wait for that, so the touched clients are
    # settled, then compare at a moment no event happened (same log end around it).
    end = time.time() + rt.stack.session_timeout + rt.stack.worker_interval + 10
    while any(f.get_cliente(cid).estado == "en_gestion" for cid in touched):
        assert time.time() < end, "sessions left open were not timed out"
        time.sleep(0.2)
    for _ in range(20):
        final = last_seq(rt.api1, gt)
        client.wait_seq(final)
        truth = {cid: (c.estado, c.asesor_asignado)
                 for cid in touched for c in [f.get_cliente(cid)]}
        if last_seq(rt.api1, gt) == final:
            break
    else:
        pytest.fail("events never stopped long enough to compare")
    assert client.duplicates == 0
    # Every seq once, in order (events after `final`, e.g. from the sweep, may follow).
    seqs, last = client.received()
    assert seqs == list(range(start + 1, last + 1)), "a gap or a reordering"
    assert all(r["status"] == "replayed" for r in client.resyncs), client.resyncs
    assert sum(r["replayed"] for r in client.resyncs) > 0, "no event was missed: cut not tested"
    with client.lock:
        mismatched = {cid: (client.state.get(cid), truth[cid]) for cid in touched
                      if client.state.get(cid) != truth[cid]}
    assert not mismatched, "client state differs from the database (client, db)"


def test_a_too_old_position_gets_a_snapshot_that_matches_the_database(rt: RT, f: Factory, opened):
    gt = f.token(f.gtr())
    a = f.asesor()
    at = f.token(a)
    first = last_seq(rt.api1, gt)
    ids = [derived(f, rt.api1, gt, a.id) for _ in range(SNAPSHOT_LOG_LEN + 5)]
    live = ids[0]
    assert rt.api1.post("/api/sessions/start", at, json={"cliente_id": live}).status_code == 201
    # SESSION_TIMEOUT is 3 s here: keep the session open while the log is
    # trimmed and the client resumes (a loaded machine takes longer than that).
    with _kept_alive(rt.api1, at, live):
        _snapshot_matches(rt, f, gt, at, first, ids, live, opened)


@contextlib.contextmanager
def _kept_alive(api: Api, token: str, cliente_id: int) -> Iterator[None]:
    """Heartbeat `cliente_id` every 0.5 s until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.5):
            api.post("/api/sessions/heartbeat", token, json={"cliente_id": cliente_id})

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def _snapshot_matches(rt: RT, f: Factory, gt: str, at: str, first: int,
                      ids: list[int], live: int, opened: list) -> None:
    end = time.time() + 10  # the sweep (every WORKER_INTERVAL) trims the log
    while rt.api1.get(f"/api/events?after={first}", gt).json()["snapshot_required"] is False:
        assert time.time() < end, "the event log was not trimmed"
        time.sleep(0.2)
    client = Resumer(rt.url1, gt, first)
    opened.append(client)
    client.wait_resyncs(1)
    told = client.resyncs[0]
    assert told["status"] == "snapshot_required" and told["replayed"] == 0
    board = rt.api1.get("/api/board", gt).json()
    assert board["seq"] >= told["last_seq"]
    items = {i["cliente_id"]: i for i in board["items"]}
    for cid in ids:
        c = f.get_cliente(cid)
        assert (items[cid]["estado"], items[cid]["asesor_id"]) == (c.estado, c.asesor_asignado)
    row = items[live]
    assert row["estado"] == "en_gestion" and row["session_id"]
    assert 0 < row["seconds_left"] <= rt.stack.session_timeout
    # A number from another log (ahead of ours) is also answered with a snapshot.
    ahead = Resumer(rt.url2, gt, board["seq"] + 1000)
    opened.append(ahead)
    ahead.wait_resyncs(1)
    assert ahead.resyncs[0]["status"] == "snapshot_required"
    # An advisor's board holds only their clients and the pool.
    other = derived(f, rt.api1, gt, f.asesor().id)
    mine = {i["cliente_id"] for i in rt.api1.get("/api/board", at).json()["items"]}
    assert live in mine and other not in mine


def test_a_killed_web_process_is_reconnected_to_and_resumed(rt: RT, f: Factory, opened):
    """The client reconnects by itself once its server is back (on the same
    address, as a sticky balancer sends it) and gets what happened meanwhile."""
    gt = f.token(f.gtr())
    a = f.asesor()
    start = last_seq(rt.api1, gt)
    client = Resumer(rt.url2, gt, start)
    opened.append(client)
    client.wait_resyncs(1)
    port = rt.stack.web_ports["web2"]
    rt.stack.kill("web2")
    missed = [derived(f, rt.api1, gt, a.id) for _ in range(5)]
    rt.stack.start_extra_web("web2", port=port, SOCKETIO_PING_INTERVAL="7",
                             SOCKETIO_PING_TIMEOUT="9")
    final = last_seq(rt.api1, gt)
    client.wait_seq(final, timeout=20)
    seqs, last = client.received()
    assert seqs == list(range(start + 1, last + 1))
    assert set(missed) <= set(client.state)
    after_kill = client.resyncs[1:]  # a reconnect may be retried: count them all
    assert after_kill and all(r["status"] == "replayed" for r in after_kill), client.resyncs
    assert sum(r["replayed"] for r in after_kill) >= 5, client.resyncs


# ------------------------------------------------------------ socket settings


def _handshake(url: str) -> dict:
    import json

    r = requests.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=5)
    assert r.status_code == 200 and r.text.startswith("0"), r.text
    return json.loads(r.text[1:])


def test_ping_interval_and_timeout_are_the_seeds_and_configurable(rt: RT):
    default = _handshake(rt.url1)
    assert (default["pingInterval"], default["pingTimeout"]) == (25_000, 60_000)
    configured = _handshake(rt.url2)
    assert (configured["pingInterval"], configured["pingTimeout"]) == (7_000, 9_000)


def test_ws_stats_counts_per_process(rt: RT, f: Factory, opened):
    gt = f.token(f.gtr())
    a = f.asesor()
    open_listener(opened, rt.url1, gt)
    open_listener(opened, rt.url2, f.token(a))
    r = Resumer(rt.url2, gt, last_seq(rt.api1, gt))
    opened.append(r)
    r.wait_resyncs(1)
    derived(f, rt.api1, gt, a.id)
    end = time.time() + 15
    while True:
        stats = rt.api1.get("/api/ws-stats", gt).json()
        nodes = stats["nodes"]
        if (len(nodes) >= 2 and stats["rooms"].get("gtr-room", 0) >= 2
                and stats["rooms"].get(f"asesor-{a.id}") == 1
                and stats["delivery"].get("resumes_served", 0) >= 1):
            break
        assert time.time() < end, stats
        time.sleep(0.5)
    assert stats["connections"] == sum(n["connections"] for n in nodes)
    assert len({n["node"] for n in nodes}) == len(nodes)
    for n in nodes:
        assert {"events_delivered", "reconnects", "resumes_served", "snapshots_required",
                "gap_filled", "duplicates_dropped"} <= set(n["delivery"])
    assert stats["delivery"]["events_delivered"] > 0
    assert rt.api1.get("/api/ws-stats", f.token(a)).status_code == 403


# ----------------------------------------------------------------- bad input


def _ack(client: socketio.Client, event: str, data: Any = None) -> Any:
    return client.call(event, data, timeout=5)


def test_bad_socket_input_gets_an_error_and_harms_nobody(rt: RT, f: Factory, opened):
    gt = f.token(f.gtr())
    a = f.asesor()
    watcher = open_listener(opened, rt.url1, gt)
    bad = open_listener(opened, rt.url1, f.token(a))
    c = bad.client
    for payload in (None, "x", [], {"cliente_id": "1"}, {"cliente_id": -4}, {"cliente_id": True}):
        out = _ack(c, "heartbeat", payload)
        assert out["error"] == "validation_error" and out["field"] == "cliente_id", payload
    assert _ack(c, "heartbeat", {"cliente_id": 2_000_000_000})["error"] in (
        "not_found", "no_active_session")
    assert _ack(c, "no-such-event", {"a": 1})["error"] == "unknown_event"
    assert _ack(c, "join", {"room": "gtr-room"})["error"] == "forbidden"
    assert _ack(c, "join", "asesor-1")["error"] == "forbidden"
    # A malformed resume position is refused at connect, with the reason.
    for value in ("7", -1, 1.5, True):
        assert "last_seq" in connect_error_of(rt.url1, {"token": gt, "last_seq": value}), value
    # The server and the other connections keep working.
    cid = derived(f, rt.api1, gt, a.id)
    watcher.wait_for("CLIENT_DERIVED", for_cliente(cid))
    bad.wait_for("CLIENT_DERIVED", for_cliente(cid))
    assert bad.client.connected


def test_a_token_that_expires_mid_connection_is_disconnected_with_a_reason(rt, f, opened):
    a = f.asesor()
    short = f.token(a, expires=2)
    ws = open_listener(opened, rt.url2, short)
    keeper = open_listener(opened, rt.url2, f.token(a))
    got, _ = ws.wait_for("auth_error", timeout=10)
    assert got["error"] == "token_expired"
    end = time.time() + 5
    while ws.client.connected and time.time() < end:
        time.sleep(0.1)
    assert not ws.client.connected
    assert keeper.client.connected
    assert _ack(keeper.client, "no-such-event")["error"] == "unknown_event"
