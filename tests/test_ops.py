"""Operations: health, Socket.IO statistics, session statistics and the
`seed-demo` command, all on the real stack."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import func, select

from core.models import User
from harness.stack import ROOT

DEMO_USERS = ["gtr"] + [f"asesor{i}" for i in range(1, 6)]


def poll(fn, pred, timeout: float = 5.0, every: float = 0.1):
    """Call fn until pred(result) holds; return the last result either way."""
    end = time.time() + timeout
    while True:
        out = fn()
        if pred(out) or time.time() >= end:
            return out
        time.sleep(every)


# ------------------------------------------------------------------- health


@pytest.mark.stack
def test_health_reports_every_dependency_and_the_worker(api, stack):
    r = api.get("/api/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    for part in ("database", "redis", "broker", "workers"):
        assert body["checks"][part]["ok"] is True, body
        assert body["checks"][part]["ms"] >= 0
    worker_arg = stack.procs["worker"].args[stack.procs["worker"].args.index("-n") + 1]
    expected = worker_arg.replace("%h", socket.gethostname())
    assert expected in body["checks"]["workers"]["workers"], body
    assert body["time"] == pytest.approx(time.time(), abs=5)


def test_liveness_probe_is_cheap_and_public(api):
    r = api.get("/api/health", params={"live": 1})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok"}


# ---------------------------------------------------------------- ws-stats


def _stats(api, token):
    r = api.get("/api/ws-stats", token)
    assert r.status_code == 200, r.text
    return r.json()


def test_ws_stats_counts_connections_per_room(factory, api, listen):
    gtr, asesor = factory.gtr(), factory.asesor()
    g = factory.token(gtr)
    room = f"asesor-{asesor.id}"
    listen(g), listen(factory.token(factory.gtr()))
    listen(factory.token(asesor))
    stats = poll(lambda: _stats(api, g),
                 lambda s: s["rooms"].get(room) == 1 and s["rooms"].get("gtr-room", 0) >= 2)
    assert stats["rooms"].get("gtr-room", 0) >= 2, stats
    assert stats["rooms"].get(room) == 1, stats
    assert stats["rooms"].get("asesor-room", 0) >= 1, stats
    assert stats["connections"] >= 3, stats
    assert stats["nodes"] and all("node" in n and "ts" in n for n in stats["nodes"])
    assert sum(n["connections"] for n in stats["nodes"]) == stats["connections"]


def test_ws_stats_forget_a_socket_once_it_disconnects(factory, api, listen):
    g = factory.token(factory.gtr())
    asesor = factory.asesor()
    room = f"asesor-{asesor.id}"
    ws = listen(factory.token(asesor))
    up = poll(lambda: _stats(api, g), lambda s: s["rooms"].get(room) == 1)
    assert up["rooms"].get(room) == 1, up
    closed_at = time.time()
    ws.close()
    # the first statistics published after the disconnect must no longer count it
    down = poll(lambda: _stats(api, g),
                lambda s: any(n["ts"] > closed_at for n in s["nodes"]), timeout=5)
    assert any(n["ts"] > closed_at for n in down["nodes"]), down
    assert down["rooms"].get(room, 0) == 0, down


# ------------------------------------------------------------ session stats


def test_session_stats_count_started_and_completed_today(factory, api):
    g = factory.token(factory.gtr())
    asesor = factory.asesor()
    a = factory.token(asesor)
    c = factory.cliente("derivado", asesor.id)
    before = api.get("/api/stats/sessions", g)
    assert before.status_code == 200, before.text
    before = before.json()
    assert api.post("/api/sessions/start", a, json={"cliente_id": c.id}).status_code == 201
    during = api.get("/api/stats/sessions", g).json()
    assert during["started_today"] >= before["started_today"] + 1
    assert during["active"] >= 1
    time.sleep(0.2)
    r = api.post("/api/sessions/end", a, json={"cliente_id": c.id, "resultado": "gestionado"})
    assert r.status_code == 200, r.text
    after = api.get("/api/stats/sessions", g).json()
    assert after["started_today"] >= before["started_today"] + 1
    assert after["completed_today"] >= before["completed_today"] + 1
    assert after["mean_handling_seconds"] is not None and after["mean_handling_seconds"] > 0
    assert after["day_start"] <= r.json()["started_at"] <= after["now"]
    assert after["timezone"]
    for key in ("active", "timed_out_today", "released_today"):
        assert isinstance(after[key], int) and after[key] >= 0


# --------------------------------------------------------------- seed-demo


def seed(stack, password: str) -> subprocess.CompletedProcess:
    env = {**stack.env, "DEMO_PASSWORD": password}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "seed-demo"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def demo_users(db) -> dict[str, tuple[str, int]]:
    with db.transaction() as tx:
        rows = tx.execute(select(User.username, User.role, User.id)
                          .where(User.username.in_(DEMO_USERS))).all()
        return {u: (role, uid) for u, role, uid in rows}


def n_users(db) -> int:
    with db.transaction() as tx:
        return tx.execute(select(func.count(User.id))).scalar_one()


@pytest.mark.stack
def test_seed_demo_creates_the_six_logins_once(db, api, stack):
    password = f"demo-{uuid.uuid4().hex[:8]}"
    existed = demo_users(db)
    first = seed(stack, password)
    assert first.returncode == 0, first.stderr
    logins = set(re.findall(r"^\s*(\S+)\s+/\s+(\S+)\s+role=(\w+)\s*$", first.stdout, re.M))
    assert logins == {(u, password, "gtr" if u == "gtr" else "asesor") for u in DEMO_USERS}, \
        first.stdout
    users = demo_users(db)
    assert sorted(users) == sorted(DEMO_USERS)
    assert users["gtr"][0] == "gtr"
    assert {users[f"asesor{i}"][0] for i in range(1, 6)} == {"asesor"}

    count = n_users(db)
    second = seed(stack, password)
    assert second.returncode == 0, second.stderr
    assert n_users(db) == count
    assert demo_users(db) == users

    if not existed:  # a fresh seed: its password logs in through the API
        for username in DEMO_USERS:
            r = api.post("/api/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, (username, r.text)
            assert r.json()["user"]["role"] == users[username][0]
