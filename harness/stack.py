"""The real system for tests: web (Socket.IO server), Celery worker and beat
as separate processes on the chosen database and Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from harness import balancer
from harness.backends import Backends, free_port

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CELERY = [PY, "-m", "celery", "-A", "tasks.worker"]


def system_env(backends: Backends) -> dict[str, str]:
    """The settings of a system under test (the spawned stack and the tests'
    in-process app alike): the chosen backends, a 3-second session timeout, a
    1-second sweep, and a channel, key prefix and JWT secret of its own."""
    run = uuid.uuid4().hex[:8]
    return {
        "APP_ENV": "test",
        "DATABASE_URL": backends.database_url,
        "REDIS_URL": backends.redis_url,
        "SESSION_TIMEOUT": "3",
        "WORKER_INTERVAL": "1000",
        "SOCKETIO_CHANNEL": f"albru-test-{run}",
        "KEY_PREFIX": f"albru-test-{run}",
        "JWT_SECRET": f"test-secret-{run}-{uuid.uuid4().hex}",
        "LOG_LEVEL": "INFO",
        "DOTENV_PATH": "/nonexistent",
    }


class Stack:
    def __init__(self, backends: Backends, logdir: Path, **overrides: str) -> None:
        self.backends = backends
        self.logdir = logdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **system_env(backends),
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "ASYNC_MODE": os.environ.get("TEST_ASYNC_MODE", "gevent"),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.update(overrides)
        self.procs: dict[str, subprocess.Popen] = {}
        self.web_ports: dict[str, int] = {"web": self.port}
        self.front_url = self.base_url  # what clients reach: web, or nginx (start_balanced)
        self._logs: dict[str, object] = {}

    @property
    def session_timeout(self) -> float:
        return float(self.env["SESSION_TIMEOUT"])

    @property
    def worker_interval(self) -> float:
        return int(self.env["WORKER_INTERVAL"]) / 1000

    def _spawn(self, name: str, cmd: list[str], **env: str) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs[name] = log
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_web(self) -> None:
        self._spawn("web", [PY, "-m", "app.server"])

    def start_extra_web(self, name: str, port: int | None = None, **env: str) -> str:
        """Another web process on the same database, Redis and channel (a second
        replica behind the load balancer); returns its base URL."""
        port = port or free_port()
        self.web_ports[name] = port
        self._spawn(name, [PY, "-m", "app.server"], PORT=str(port), **env)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, self.procs[name], self.logdir / f"{name}.log")
        return url

    def start_balanced(self, webs: int) -> str:
        """webs - 1 more web processes and nginx with production's site config
        in front of all of them (harness/balancer.py), which spreads requests
        and websockets from one client address over all of them. Returns the
        front's base URL."""
        binary = balancer.nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        for k in range(len(self.web_ports) + 1, webs + 1):
            self.start_extra_web(f"web{k}")
        listen = free_port()
        conf = balancer.write_main_conf(list(self.web_ports.values()), listen, self.logdir)
        self._spawn("nginx", [binary, "-p", str(self.logdir), "-c", str(conf)])
        self.front_url = f"http://127.0.0.1:{listen}"
        wait_until_up(self.front_url, self.procs["nginx"], self.logdir / "nginx-error.log")
        return self.front_url

    def wait_live(self, timeout: float = 60) -> None:
        """Until the main web process answers /api/health?live=1."""
        wait_until_up(self.base_url, self.procs["web"], self.logdir / "web.log", timeout)

    def start_web_live(self) -> None:
        """The main web process, up and answering; stops everything if it is not."""
        self.start_web()
        try:
            self.wait_live()
        except RuntimeError:
            self.stop()
            raise

    def start_worker(self, name: str = "worker", **env: str) -> None:
        """A Celery worker; `env` adds to this process's environment only (a
        fault test's delay setting, or a shifted clock)."""
        self._spawn(name, CELERY + ["worker", "--loglevel=INFO", "--concurrency=2",
                                    "-E", "--without-mingle", "--without-gossip",
                                    "-n", f"test-{uuid.uuid4().hex[:6]}@%h"], **env)

    def start_beat(self) -> None:
        self._spawn("beat", CELERY + ["beat", "--loglevel=INFO",
                                      "-s", str(self.logdir / "celerybeat-schedule")])

    def start(self) -> Stack:
        self.start_web()
        self.start_worker()
        self.start_beat()
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60) -> dict:
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.logdir}")
            try:
                r = requests.get(f"{self.base_url}/api/health", timeout=3)
                last = r.json()
                if r.status_code == 200:
                    return last
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"stack not healthy after {timeout}s: {last}; logs in {self.logdir}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, signal.SIGKILL)
            self.procs.pop(name)
        for log in self._logs.values():
            log.close()

    def log(self, name: str) -> str:
        return (self.logdir / f"{name}.log").read_text(errors="replace")


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until the web process answers its liveness check; its log's tail if not."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            if requests.get(f"{url}/api/health?live=1", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"web at {url} not up (exit code {proc.poll()}):\n{tail}")
