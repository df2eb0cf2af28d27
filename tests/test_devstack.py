"""Issue 14 items 11 and 4 on real processes: `make run` (scripts/devstack.py)
started as a user starts it, on its own instance directory and free ports,
with the embedded SQLite and its private Redis.

Item 11: it listened on 0.0.0.0 with the published dev JWT secret and a
Flower without login (a token signed with DEV_JWT_SECRET got 200).
Item 4: a `kill -9` of the worker (or of its private Redis) stopped everything;
sessions then stayed active 45 s past their deadline."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
import requests

from bench.invariants import check
from core.db import Database
from core.settings import DEV_JWT_SECRET
from harness.backends import free_port

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parent.parent
SESSION_TIMEOUT = 6
WORKER_INTERVAL_MS = 2000
#: A crashed child is restarted within its first backoff (1 s) plus the 0.5 s
#: supervision tick, on a loaded machine.
RESTART_BOUND = 10.0
#: Past its deadline a session ends within the sweep's interval, plus the
#: restarted worker's boot on a loaded 2-core machine.
LATE_BOUND = 30.0
LOCAL_SETTINGS = ("DB_", "REDIS_", "DATABASE_URL", "JWT_SECRET", "HOST", "FLOWER_", "APP_ENV",
                  "SESSION_TIMEOUT", "WORKER_INTERVAL", "PORT", "DEV_REDIS_PORT", "KEY_PREFIX",
                  "SOCKETIO_CHANNEL")


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the direct children of `pid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append((int(entry.name), cmdline))
    return out


def listen_addresses(port: int) -> set[str]:
    """The local addresses listening on TCP `port` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                found.add(address)
    return found


LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


@pytest.fixture(scope="module")
def devstack(tmp_path_factory) -> Iterator[SimpleNamespace]:
    instance = tmp_path_factory.mktemp("devstack")
    ports = SimpleNamespace(web=free_port(), flower=free_port(), redis=free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith(LOCAL_SETTINGS)}
    env.update(PORT=str(ports.web), FLOWER_PORT=str(ports.flower),
               DEV_REDIS_PORT=str(ports.redis), SESSION_TIMEOUT=str(SESSION_TIMEOUT),
               WORKER_INTERVAL=str(WORKER_INTERVAL_MS), DOTENV_PATH="/nonexistent",
               PYTHONUNBUFFERED="1", WORKER_CONCURRENCY="1")
    proc = subprocess.Popen([sys.executable, "scripts/devstack.py", "--instance", str(instance)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        for raw in iter(proc.stdout.readline, b""):
            lines.append(raw.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()
    base = f"http://127.0.0.1:{ports.web}"
    ds = SimpleNamespace(proc=proc, lines=lines, base=base, ports=ports, instance=instance)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert proc.poll() is None, "".join(lines[-60:])
            try:
                if requests.get(f"{base}/api/health", timeout=5).status_code == 200:
                    break  # database, Redis, broker and a worker answer
            except requests.RequestException:
                pass
            time.sleep(1)
        else:
            raise AssertionError("make run did not become healthy:\n" + "".join(lines[-60:]))
        yield ds
    finally:
        everyone = [pid for pid, _ in children_of(proc.pid)]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in everyone + [pid for pid, _ in children_of(proc.pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # each child leads its own session


def output(ds: SimpleNamespace) -> str:
    return "".join(ds.lines)


def login(ds: SimpleNamespace, username: str) -> dict:
    r = requests.post(f"{ds.base}/api/auth/login", timeout=10,
                      json={"username": username, "password": "demo1234"})
    assert r.status_code == 200, r.text
    return r.json()


def test_make_run_listens_on_loopback_and_refuses_the_published_secret(devstack):
    """Item 11: the web process and Flower listen on 127.0.0.1 only, and a
    token re-signed with the published DEV_JWT_SECRET is refused."""
    web = listen_addresses(devstack.ports.web)
    flower = listen_addresses(devstack.ports.flower)
    assert web and web <= LOOPBACK_HEX, web
    end = time.time() + 30
    while not flower and time.time() < end:  # Flower starts last and slowly
        time.sleep(0.5)
        flower = listen_addresses(devstack.ports.flower)
    assert flower and flower <= LOOPBACK_HEX, flower
    out = login(devstack, "asesor1")
    me = {"Authorization": f"Bearer {out['token']}"}
    assert requests.get(f"{devstack.base}/api/auth/me", headers=me, timeout=10).status_code == 200
    claims = jwt.decode(out["token"], options={"verify_signature": False})
    forged = jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")
    r = requests.get(f"{devstack.base}/api/auth/me", timeout=10,
                     headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401, r.text
    secret = devstack.instance / "jwt-secret"
    assert secret.is_file() and (secret.stat().st_mode & 0o777) == 0o600


def _child(ds: SimpleNamespace, *words: str) -> int:
    [pid] = [pid for pid, cmd in children_of(ds.proc.pid) if all(w in cmd for w in words)]
    return pid


def test_a_killed_worker_is_restarted_and_sessions_still_time_out(devstack):
    """Item 4: `kill -9` of the worker used to stop the whole stack. Now it is
    restarted (said in the output), the rest keeps running, and a session
    started before the kill still times out, not early, within the bound."""
    gtr, asesor = login(devstack, "gtr"), login(devstack, "asesor1")
    g = {"Authorization": f"Bearer {gtr['token']}"}
    a = {"Authorization": f"Bearer {asesor['token']}"}
    c = requests.post(f"{devstack.base}/api/clientes", headers=g, timeout=10,
                      json={"nombre": "Kill Nueve", "telefono": "+51 900 999 999"})
    assert c.status_code == 201, c.text
    cid = c.json()["id"]
    r = requests.post(f"{devstack.base}/api/clientes/{cid}/derivar", headers=g, timeout=10,
                      json={"asesor_id": asesor["user"]["id"]})
    assert r.status_code == 200, r.text
    r = requests.post(f"{devstack.base}/api/sessions/start", headers=a, timeout=10,
                      json={"cliente_id": cid})
    assert r.status_code == 201, r.text
    deadline = r.json()["deadline"]
    worker = _child(devstack, "celery", " worker ")
    os.kill(worker, signal.SIGKILL)
    killed_at = time.time()
    while time.time() - killed_at < RESTART_BOUND:
        if "worker restarted" in output(devstack):
            break
        time.sleep(0.2)
    text = output(devstack)
    assert "worker exited with -9; restarting it" in text, text[-4000:]
    assert "worker restarted" in text, text[-4000:]
    assert devstack.proc.poll() is None, text[-4000:]
    assert _child(devstack, "celery", " worker ") != worker
    assert requests.get(f"{devstack.base}/api/health?live=1", timeout=10).status_code == 200
    while True:
        s = requests.get(f"{devstack.base}/api/sessions/status/{cid}", headers=g, timeout=10)
        assert s.status_code == 200, s.text
        body = s.json()
        if body["estado"] != "en_gestion":  # `active` turns false at the deadline already
            break
        assert time.time() < deadline + LATE_BOUND, body
        time.sleep(0.5)
    ended = time.time()
    assert body["estado"] == "no_gestionado", body
    with contextlib.closing(sqlite3.connect(devstack.instance / "albru.db")) as conn:
        [(status, deadline_at, ended_at)] = conn.execute(
            "SELECT status, deadline_at, ended_at FROM gestion_sessions WHERE cliente_id = ?",
            (cid,)).fetchall()
    assert status == "timed_out"
    assert ended_at >= deadline_at, (ended_at, deadline_at)  # never early
    _invariants_hold(devstack)
    print(f"worker restarted after kill -9; session timed out {ended - deadline:.1f}s "
          "after its deadline")


def test_a_killed_private_redis_is_restarted_and_the_stack_recovers(devstack):
    """Item 4: `kill -9` of make run's private Redis used to stop everything.
    Now it is restarted on the same port (its append-only file kept) and the
    system answers healthy again, with a worker."""
    redis = _child(devstack, "redis-server")
    os.kill(redis, signal.SIGKILL)
    killed_at = time.time()
    while time.time() - killed_at < RESTART_BOUND:
        if "redis restarted" in output(devstack):
            break
        time.sleep(0.2)
    text = output(devstack)
    assert "redis exited with -9; restarting it" in text, text[-4000:]
    assert "redis restarted" in text, text[-4000:]
    assert devstack.proc.poll() is None, text[-4000:]
    while True:
        try:
            if requests.get(f"{devstack.base}/api/health", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.time() - killed_at < 60, output(devstack)[-4000:]
        time.sleep(1)
    print(f"private Redis killed; healthy again after {time.time() - killed_at:.1f}s")
    out = login(devstack, "asesor2")
    me = requests.get(f"{devstack.base}/api/auth/me", timeout=10,
                      headers={"Authorization": f"Bearer {out['token']}"})
    assert me.status_code == 200, me.text
    _invariants_hold(devstack)


def _invariants_hold(devstack) -> None:
    """bench.invariants on make run's own SQLite database."""
    db = Database(f"sqlite:///{devstack.instance / 'albru.db'}")
    try:
        rep = check(db, stuck_bound=30.0)
        assert rep.ok, rep.problems()
    finally:
        db.dispose()
