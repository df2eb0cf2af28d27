"""The benchmarks' production front (harness/balancer.py): deploy/nginx/nginx.conf and
default.conf in front of several web processes, and client source addresses that nginx's
ip_hash shares out evenly. The stack test checks the prediction against a real
nginx, so a figure from `make bench` is known to come from both replicas."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from pathlib import Path

import pytest

from harness import balancer
from harness.stack import Stack
from tests.conftest import backends


def test_spread_deals_sources_out_evenly_in_turn():
    sources = balancer.spread(2, 4)
    assert len(set(sources)) == 8
    assert [balancer.ip_hash_peer(a, 2) for a in sources] == [0, 1] * 4
    assert all(re.fullmatch(r"127\.0\.\d+\.1", a) for a in sources)
    three = balancer.spread(3, 2)
    assert [balancer.ip_hash_peer(a, 3) for a in three] == [0, 1, 2] * 2
    assert balancer.spread(1, 4) == ["127.0.0.1"]


def test_ip_hash_keys_on_the_first_three_octets_only():
    """Why the sources differ in their third octet: a whole /24 (one office's
    LAN) lands on one replica."""
    assert {balancer.ip_hash_peer(f"10.1.2.{d}", 2) for d in range(1, 255)} == {
        balancer.ip_hash_peer("10.1.2.1", 2)}


def test_config_keeps_production_balancing_with_one_line_per_replica(tmp_path):
    text = balancer.config([4101, 4102], 4100, tmp_path)
    prod = balancer.NGINX_CONF.read_text()
    params = re.search(r"server web:3001([^;]*);", prod).group(1)
    assert f"server 127.0.0.1:4101{params};" in text
    assert f"server 127.0.0.1:4102{params};" in text
    assert "ip_hash;" in text and "ip_hash;" in prod
    assert "web:" not in text and "flower:" not in text
    assert "listen 127.0.0.1:4100;" in text and "listen 80;" not in text
    assert f"access_log {tmp_path}/nginx-access.log albru_json;" in text
    # everything else is production's: same number of lines, same locations
    assert len(text.splitlines()) == len(prod.splitlines()) + 1
    assert re.findall(r"location [^{]+", text) == re.findall(r"location [^{]+", prod)


def _get(front: str, path: str, source: str) -> int:
    host, port = front.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.stack
def test_each_source_reaches_the_replica_ip_hash_predicts(tmp_path: Path):
    if balancer.nginx_binary() is None:
        pytest.skip("no nginx binary (apt-get install nginx-light; .ci/run installs it)")
    stack = Stack(backends(), tmp_path)
    try:
        stack.start_web_live()
        front = stack.start_balanced(2, per_replica=3)
        ports = list(stack.web_ports.values())
        for _ in range(5):
            for source in stack.sources:
                assert _get(front, "/api/health?live=1", source) == 200
        seen: dict[str, set[str]] = {}
        for line in (tmp_path / "nginx-access.log").read_text().splitlines():
            entry = json.loads(line)
            seen.setdefault(entry["remote_addr"], set()).add(entry["upstream"])
        seen.pop("127.0.0.1", None)  # start_balanced's own check that nginx is up
        assert set(seen) == set(stack.sources)
        for source, upstreams in seen.items():
            assert upstreams == {f"127.0.0.1:{ports[balancer.ip_hash_peer(source, 2)]}"}
        split = balancer.upstream_split(tmp_path)
        assert sorted(split.values())[-2:] == [15, 16], split  # + that one check
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
