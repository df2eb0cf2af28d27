"""The containers' commands, run as plain processes (no Docker here).

The commands, environment and health checks are read from docker-compose.yml,
so this test and the file cannot drift apart. Only what has to differ outside
Docker is changed: `db`/`redis` become the run's own fresh database and a
second Redis db number (DATABASE_URL / REDIS_URL win over DB_* / REDIS_*);
ports become free ones; beat's schedule file goes to a temporary directory;
`python`/`flask`/`celery` are this virtualenv's. Everything runs in production
mode with the compose environment (JSON logs, secrets required)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.backends import free_port, scratch_database, scratch_redis
from tests.conftest import backends
from tests.test_deploy_files import COMPOSE, SECRETS_ENV, interpolate_tree, load_yaml
from tests.test_migrations import schema_diff

pytestmark = pytest.mark.stack  # the compose services' commands as processes


ROOT = Path(__file__).resolve().parent.parent
EXECUTABLES = {"python": [sys.executable], "flask": [sys.executable, "-m", "flask"],
               "celery": [sys.executable, "-m", "celery"]}


def local(cmd: list[str]) -> list[str]:
    return EXECUTABLES.get(cmd[0], [cmd[0]]) + cmd[1:]


def local_shell(cmd: str) -> str:
    for name, exe in EXECUTABLES.items():
        cmd = re.sub(rf"(^|;|&&|\|)\s*{name}\s", lambda m, e=exe: f"{m.group(1)} {' '.join(e)} ",
                     cmd)
    return cmd


class Compose:
    """docker-compose.yml as processes."""

    def __init__(self, tmp: Path, database_url: str, redis_url: str) -> None:
        self.services = interpolate_tree(load_yaml(COMPOSE), dict(SECRETS_ENV))["services"]
        self.tmp = tmp
        self.web_port, self.flower_port = free_port(), free_port()
        app_env = {k: str(v) for k, v in self.services["web"]["environment"].items()}
        run = uuid.uuid4().hex[:8]
        self.env = {**os.environ, **app_env, "DATABASE_URL": database_url,
                    "REDIS_URL": redis_url, "PORT": str(self.web_port), "HOST": "127.0.0.1",
                    "DOTENV_PATH": "/nonexistent", "SOCKETIO_CHANNEL": f"albru-compose-{run}",
                    "KEY_PREFIX": f"albru-compose-{run}", "HOSTNAME": socket.gethostname(),
                    "PYTHONUNBUFFERED": "1"}
        self.procs: dict[str, subprocess.Popen] = {}

    def command(self, service: str) -> list[str]:
        cmd = list(self.services[service]["command"])
        cmd = [f"--port={self.flower_port}" if c == "--port=5555" else c for c in cmd]
        if service == "beat":
            cmd[cmd.index("-s") + 1] = str(self.tmp / "celerybeat-schedule")
        return local(cmd)

    def healthcheck(self, service: str) -> subprocess.CompletedProcess:
        test = self.services[service]["healthcheck"]["test"]
        ports = {":3001/": f":{self.web_port}/", ":5555/": f":{self.flower_port}/"}
        if test[0] == "CMD-SHELL":
            argv = ["sh", "-c", local_shell(test[1])]
        else:
            argv = local(list(test[1:]))
        argv = [self._ports(a, ports) for a in argv]
        return subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=60)

    @staticmethod
    def _ports(arg: str, ports: dict[str, str]) -> str:
        for old, new in ports.items():
            arg = arg.replace(old, new)
        return arg

    def run(self, service: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(service), cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=180)

    def start(self, service: str) -> None:
        log = open(self.tmp / f"{service}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[service] = subprocess.Popen(self.command(service), cwd=ROOT, env=self.env,
                                               stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True)
        log.close()

    def log(self, service: str) -> str:
        return (self.tmp / f"{service}.log").read_text(errors="replace")

    def wait_healthy(self, service: str, timeout: float = 120) -> None:
        end = time.time() + timeout
        last = None
        while time.time() < end:
            proc = self.procs[service]
            assert proc.poll() is None, f"{service} exited {proc.returncode}:\n" \
                f"{self.log(service)[-3000:]}"
            last = self.healthcheck(service)
            if last.returncode == 0:
                return
            time.sleep(1)
        pytest.fail(f"{service} never passed its health check: {last.stdout}{last.stderr}\n"
                    f"{self.log(service)[-3000:]}")

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                codes[name] = None
        return codes


@pytest.fixture
def compose(tmp_path: Path) -> Iterator[Compose]:
    with scratch_database(backends(), "compose", str(tmp_path)) as db_url, \
            scratch_redis(backends()) as redis_url:
        c = Compose(tmp_path, db_url, redis_url)
        try:
            yield c
        finally:
            c.stop()


def test_the_containers_commands_start_and_pass_their_health_checks(compose):
    migrated = compose.run("migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert schema_diff(compose.env["DATABASE_URL"]) == []

    for service in ("web", "beat", "flower"):
        compose.start(service)
    for service in ("web", "beat"):
        compose.wait_healthy(service)
    base = f"http://127.0.0.1:{compose.web_port}"
    # beat answers `inspect ping` (its health check) but is no worker
    alone = requests.get(f"{base}/api/health", timeout=10)
    assert alone.status_code == 503, alone.text
    assert alone.json()["checks"]["workers"]["ok"] is False

    compose.start("worker")
    for service in ("worker", "flower"):
        compose.wait_healthy(service)
    end = time.time() + 60
    while (r := requests.get(f"{base}/api/health", timeout=10)).status_code != 200:
        assert time.time() < end, r.text
        time.sleep(1)
    assert r.json()["checks"]["workers"]["workers"] == [f"celery@{socket.gethostname()}"]
    assert requests.get(f"{base}/metrics", timeout=10).text.count("albru_http_requests_total")

    flower = f"http://127.0.0.1:{compose.flower_port}/flower"
    assert requests.get(f"{flower}/", timeout=10).status_code == 401, "Flower must ask a login"
    auth = ("admin", SECRETS_ENV["FLOWER_PASSWORD"])
    assert requests.get(f"{flower}/workers", auth=auth, timeout=10).status_code == 200
    metrics = requests.get(f"{flower}/metrics", timeout=10)
    assert metrics.status_code == 200 and "flower_events_total" in metrics.text

    # production mode, compose's LOG_FORMAT: the web's lines are JSON
    web_lines = [ln for ln in compose.log("web").splitlines() if ln.startswith("{")]
    assert any('"logger": "albru.access"' in ln for ln in web_lines), compose.log("web")[-2000:]

    codes = compose.stop()
    assert codes["web"] == 0 and codes["worker"] == 0, (codes, compose.log("worker")[-2000:])


def test_seed_demo_refuses_production_unless_forced(compose):
    """Bug 6: the demo users (known password) were created in production without
    a word. With the containers' environment (APP_ENV=production) seed-demo
    refuses; --force seeds; `users create` is the operator's way (docs/deploy.md)."""
    migrated = compose.run("migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    def flask(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(local(["flask", "--app", "app", *args]), cwd=ROOT, env=compose.env,
                              capture_output=True, text=True, timeout=120, input=stdin)

    refused = flask("seed-demo")
    assert refused.returncode != 0, refused.stdout
    assert "refused" in refused.stderr and "users create" in refused.stderr, refused.stderr
    assert "gtr " not in flask("users", "list").stdout, "refused, yet users were created"

    created = flask("users", "create", "ana", "--role", "gtr", "--nombre", "Ana",
                    "--password-stdin", stdin="a-long-enough-password-1\n")
    assert created.returncode == 0, created.stdout + created.stderr
    forced = flask("seed-demo", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    listed = flask("users", "list").stdout
    assert "ana" in listed and "asesor1" in listed, listed
