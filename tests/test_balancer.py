"""Production's front (deploy/nginx/default.conf, run on loopback by
harness/balancer.py for the benchmarks): every REST request and every
websocket goes to a replica by a hash of its own request id, so a call
center whose desks all leave from one NAT address still reaches every
replica; a Socket.IO session that long-polls stays on the replica that holds
it (by the client's address). The stack tests check both on a real nginx."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import re
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from harness import balancer
from harness.stack import Stack
from tests.conftest import backends

BALANCE = "hash $albru_balance_key consistent;"


def test_config_keeps_production_balancing_with_one_line_per_replica(tmp_path):
    text = balancer.config([4101, 4102], 4100, tmp_path)
    prod = balancer.NGINX_CONF.read_text()
    params = re.search(r"server web:3001([^;]*);", prod).group(1)
    assert f"server 127.0.0.1:4101{params};" in text
    assert f"server 127.0.0.1:4102{params};" in text
    assert BALANCE in text and BALANCE in prod
    assert "ip_hash" not in re.sub(r"#.*", "", prod)
    assert "web:" not in text and "flower:" not in text
    assert "listen 127.0.0.1:4100;" in text and "listen 80;" not in text
    assert f"access_log {tmp_path}/nginx-access.log albru_json;" in text
    # everything else is production's: same number of lines, same locations
    assert len(text.splitlines()) == len(prod.splitlines()) + 1
    assert re.findall(r"location [^{]+", text) == re.findall(r"location [^{]+", prod)


def _request(front: str, method: str, path: str, rid: str, body: bytes | None = None,
             upgrade: bool = False) -> tuple[int, bytes]:
    """One request from 127.0.0.1 with our X-Request-ID (to find it in the
    access log); `upgrade`: a websocket handshake, closed once answered."""
    host, port = front.removeprefix("http://").split(":")
    if upgrade:
        key = base64.b64encode(os.urandom(16)).decode()
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Request-ID: {rid}\r\n"
                       f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                      .encode())
            status = s.makefile("rb").readline().split()[1]
        return int(status), b""
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers={"X-Request-ID": rid,
                                                       "Content-Type": "text/plain"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _upstreams(logdir: Path) -> dict[str, str]:
    """request id -> the replica nginx sent it to, from the access log."""
    seen: dict[str, str] = {}
    for line in (logdir / "nginx-access.log").read_text().splitlines():
        entry = json.loads(line)
        seen[entry["request_id"]] = entry["upstream"]
    return seen


@pytest.mark.stack
def test_one_client_address_reaches_every_replica_and_polling_stays_on_one(tmp_path: Path):
    """From one address (a call center behind one NAT): REST requests and
    websockets are shared out over both replicas; each long-polling Socket.IO
    session keeps its handshake, its polls and its upgrade on one replica
    (on the other, its sid is unknown: 400)."""
    if balancer.nginx_binary() is None:
        pytest.skip("no nginx binary (apt-get install nginx-light; .ci/run installs it)")
    stack = Stack(backends(), tmp_path)
    try:
        stack.start_web_live()
        front = stack.start_balanced(2)
        replicas = {f"127.0.0.1:{p}" for p in stack.web_ports.values()}
        rest = [f"rest-{k}" for k in range(100)]
        for rid in rest:
            assert _request(front, "GET", "/api/health?live=1", rid)[0] == 200
        sockets = [f"ws-{k}" for k in range(40)]
        for rid in sockets:
            status, _ = _request(front, "GET", "/socket.io/?EIO=4&transport=websocket", rid,
                                 upgrade=True)
            assert status == 101
        polls: dict[str, list[str]] = {}
        for k in range(10):
            rids = [f"poll-{k}-{step}" for step in range(4)]
            status, body = _request(front, "GET", "/socket.io/?EIO=4&transport=polling", rids[0])
            assert status == 200, body
            sid = json.loads(body[body.index(b"{"):])["sid"]
            q = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
            assert _request(front, "POST", q, rids[1], body=b"40") == (200, b"OK")
            status, body = _request(front, "GET", q, rids[2])  # the answer to CONNECT
            assert status == 200 and body.startswith(b"4"), body
            status, _ = _request(front, "GET", q.replace("polling", "websocket"), rids[3],
                                 upgrade=True)
            assert status == 101
            polls[sid] = rids
        seen = {}
        for _ in range(50):  # the websockets' lines are written as they close
            seen = _upstreams(tmp_path)
            if all(r in seen for r in sockets + [p[-1] for p in polls.values()]):
                break
            time.sleep(0.1)
        for kind, rids, least in (("REST", rest, 15), ("websocket", sockets, 6)):
            split = Counter(seen[r] for r in rids)
            assert set(split) == replicas and min(split.values()) >= least, (kind, split)
        for sid, rids in polls.items():
            assert len({seen[r] for r in rids}) == 1, (sid, [seen[r] for r in rids])
    finally:
        stack.stop()


#: open connections the connection test holds at once: more than the 2 x 1,024
#: of the image's own nginx.conf on two workers (deploy/nginx/nginx.conf says why)
HELD = 3_000


@pytest.mark.stack
def test_front_holds_thousands_of_open_connections(tmp_path: Path):
    """Every desk keeps a websocket open all shift: with production's main
    config the front answers on each of HELD connections held at once."""
    if balancer.nginx_binary() is None:
        pytest.skip("no nginx binary (apt-get install nginx-light; .ci/run installs it)")
    stack = Stack(backends(), tmp_path)
    try:
        stack.start_web_live()
        front = stack.start_balanced(2)
        host, port = front.removeprefix("http://").split(":")
        failed = asyncio.run(balancer.hold_connections(host, int(port), HELD))
        assert not failed, f"{len(failed)} of {HELD}: {sorted(set(failed))[:5]}"
        errors = (tmp_path / "nginx-error.log").read_text()
        assert "worker_connections are not enough" not in errors
    finally:
        stack.stop()
