"""A process started without its production secrets refuses to start, with a
message that says what is missing (and never listens)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack  # starts the CLI and the server as processes


ROOT = Path(__file__).resolve().parent.parent
BASE = {k: v for k, v in os.environ.items()
        if k not in ("JWT_SECRET", "DATABASE_URL", "REDIS_URL", "DB_HOST", "REDIS_HOST")}


@pytest.mark.parametrize("cmd", [
    [sys.executable, "-m", "app.server"],
    [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "--loglevel=INFO"],
    [sys.executable, "-m", "flask", "--app", "app", "init-db"],
])
def test_production_without_secrets_fails_fast(cmd):
    env = {**BASE, "APP_ENV": "production", "DATABASE_URL": "mysql://u:p@127.0.0.1:1/x",
           "REDIS_URL": "redis://127.0.0.1:1/0", "DOTENV_PATH": "/nonexistent"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "JWT_SECRET" in done.stdout + done.stderr


def test_a_wrong_setting_is_named():
    env = {**BASE, "SESSION_TIMEOUT": "ten minutes", "DOTENV_PATH": "/nonexistent"}
    done = subprocess.run([sys.executable, "-m", "app.server"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "SESSION_TIMEOUT must be a number" in done.stderr


def test_the_web_process_freezes_its_start_up_objects_before_serving():
    """A full garbage collection must not walk the ~150,000 start-up objects
    while requests wait (app/server.py freeze_startup_objects): by the time the
    server would listen, they are frozen."""
    from harness.stack import system_env
    from tests.conftest import backends

    env = {**os.environ, **system_env(backends()), "ASYNC_MODE": "gevent"}
    code = ("import gc\nimport app.server as s\n"
            "s.serve_gevent = lambda app, host, port: print('frozen', gc.get_freeze_count())\n"
            "s.main()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    frozen = int(done.stdout.split("frozen", 1)[1].split()[0])
    assert frozen > 50_000, done.stdout


def test_the_web_process_raises_its_open_files_limit_before_serving():
    """One open file per desk's websocket: started with Docker 25's soft limit
    of 1,024, the web process serves with its soft limit at the hard one
    (app/server.py raise_open_files_limit)."""
    import resource

    from harness.stack import system_env
    from tests.conftest import backends

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f"this machine's hard limit is {hard}: nothing to raise")
    env = {**os.environ, **system_env(backends()), "ASYNC_MODE": "gevent"}
    code = ("import resource\nimport app.server as s\n"
            "s.serve_gevent = lambda app, host, port: print("
            "'nofile', *resource.getrlimit(resource.RLIMIT_NOFILE))\n"
            "s.main()\n")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)))
    assert done.returncode == 0, done.stderr[-2000:]
    served_soft, served_hard = (int(x) for x in done.stdout.split("nofile", 1)[1].split()[:2])
    assert served_hard == hard
    assert served_soft == served_hard > 1024
