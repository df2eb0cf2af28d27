"""`make compose-smoke`: the production stack (docker-compose.yml) on a real
Docker engine, driven the way an operator and the browsers would drive it.

1. Images: each base image compose and the Dockerfile name (their `*_IMAGE`
   defaults) is used when the engine has it or can pull it; otherwise a stand-in
   is built from deploy/standins/ on a debootstrapped Debian base and named
   `albru-standin/<recipe>:<hash of its recipe>` (reused while the recipe is
   unchanged; an official tag is never shadowed).
2. Fresh secrets: env.example with the secrets filled in, written to an env file
   OUTSIDE the tree (never .env); compose runs with that file and a clean
   environment, so what env.example says is what the containers get.
3. `build web nginx` and `up -d` (what `up -d --build` does, timed apart),
   then every health check; the first users with
   `flask --app app users create` (no SQL), and `seed-demo` must refuse production.
4. Through nginx only: health, login, create/derive/start/heartbeat/end, a
   python-socketio GTR client over websocket (Origin = the page's own origin on
   a port other than 80) receiving every event with no `seq` gap, the built UI,
   Flower's login, `/metrics` 404, Adminer on loopback only, the login rate
   limit keyed by the real client address.
5. A graceful stop of the web replica holding our socket while POSTs flow
   (nginx shares them out over both replicas): none may fail. Then the
   replica the socket moved to is killed (`docker kill`): no REST call may
   fail (nginx retries the ones it sent there) and the socket must be back
   within a few seconds, with no gap.
6. `stop` must exit 0 within the grace periods; `down -v` always.

Each figure is printed and written to a JSON file (--out)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from harness.balancer import hold_connections  # noqa: E402 - after the path

#: connections the front must hold at once: more than the image's own 2 x 1,024
HELD_CONNECTIONS = 3_000
#: desks with a websocket open at once that each nginx worker must fit (two connections each)
DESKS = 10_000
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "env.example"
STANDINS = ROOT / "deploy" / "standins"
#: compose/Dockerfile image variable -> stand-in recipe folder
RECIPES = {"PYTHON_IMAGE": "python", "NODE_IMAGE": "node", "NGINX_IMAGE": "nginx",
           "MYSQL_IMAGE": "mysql", "REDIS_IMAGE": "redis", "ADMINER_IMAGE": "adminer"}
SECRETS = ("JWT_SECRET", "DB_PASSWORD", "MYSQL_ROOT_PASSWORD", "REDIS_PASSWORD",
           "FLOWER_PASSWORD")
LOGIN_LIMIT = 5
#: how long a replica may take to be replaced for its clients (the issue: "a few seconds")
RECOVERY_BOUND = 10.0
#: docker compose stop must finish within the longest stop_grace_period (worker, db: 60 s)
STOP_BOUND = 75.0


class SmokeFailure(AssertionError):
    pass


def check(ok: Any, message: str) -> None:
    if not ok:
        raise SmokeFailure(message)


def log(msg: str) -> None:
    print(f"compose-smoke [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ engine

def clean_env() -> dict[str, str]:
    """What compose and docker run with: no variable of ours leaks in from the
    caller's shell (it would override the env file)."""
    keep = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH",
            "DOCKER_TLS_VERIFY", "TMPDIR", "LANG", "LC_ALL")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    # docker-compose v1: build with the docker CLI (it walks the build context in
    # Go; v1's own Python client takes minutes per service here), and with the
    # classic builder, which needs no buildx plugin.
    env.setdefault("COMPOSE_DOCKER_CLI_BUILD", os.environ.get("COMPOSE_DOCKER_CLI_BUILD", "1"))
    env.setdefault("DOCKER_BUILDKIT", os.environ.get("DOCKER_BUILDKIT", "0"))
    return env


def run(cmd: list[str], *, check_rc: bool = True, timeout: float = 600, input: str | None = None,
        quiet: bool = False) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                          env=clean_env(), cwd=ROOT)
    if check_rc and done.returncode != 0:
        raise SmokeFailure(f"{' '.join(cmd)} exited {done.returncode}:\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    if not quiet and done.returncode == 0 and done.stderr.strip() and "--verbose" in sys.argv:
        print(done.stderr)
    return done


def find_compose(choice: str) -> list[str]:
    """`docker compose` (v2) or `docker-compose` (v1), whichever answers."""
    candidates = {"v2": [["docker", "compose"]], "v1": [["docker-compose"]],
                  "auto": [["docker", "compose"], ["docker-compose"]]}[choice]
    for cmd in candidates:
        if shutil.which(cmd[0]) and subprocess.run(
                cmd + ["version"], capture_output=True, env=clean_env()).returncode == 0:
            return cmd
    raise SmokeFailure(f"no Docker Compose found (tried {candidates}): install docker-compose "
                       "or the docker compose plugin")


def engine_check() -> str:
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                          capture_output=True, text=True, env=clean_env())
    if done.returncode != 0:
        raise SmokeFailure("no Docker engine answers (`docker version`): start dockerd "
                           f"(.ci/run does it)\n{done.stderr.strip()}")
    return done.stdout.strip()


def image_exists(name: str) -> bool:
    return run(["docker", "image", "inspect", name], check_rc=False, quiet=True).returncode == 0


# ------------------------------------------------------------------ images

def compose_image_defaults() -> dict[str, str]:
    text = COMPOSE_FILE.read_text()
    found = dict(re.findall(r"\$\{([A-Z_]+_IMAGE):-([^}]+)\}", text))
    missing = set(RECIPES) - set(found)
    check(not missing, f"docker-compose.yml has no default for {sorted(missing)}")
    return {k: found[k] for k in RECIPES}


def recipe_hash(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        for f in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
            h.update(str(f.relative_to(STANDINS)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def base_image() -> tuple[str, float | None]:
    name = f"albru-standin/debian:bookworm-{recipe_hash(STANDINS / 'base.sh')}"
    if image_exists(name):
        return name, None
    log(f"building the Debian base {name} (debootstrap)")
    started = time.monotonic()
    run(["bash", str(STANDINS / "base.sh"), name], timeout=1200)
    return name, time.monotonic() - started


def resolve_images(pull: bool) -> tuple[dict[str, str], dict[str, Any]]:
    """{IMAGE variable: image to use}, and what was done to get them."""
    report: dict[str, Any] = {"images": {}, "built": [], "reused": [], "build_s": None}
    chosen: dict[str, str] = {}
    to_build: list[tuple[str, str, str]] = []
    for var, official in compose_image_defaults().items():
        if image_exists(official):
            chosen[var] = official
            report["images"][var] = f"{official} (official, present)"
            continue
        if pull and run(["docker", "pull", "-q", official], check_rc=False, timeout=180,
                        quiet=True).returncode == 0:
            chosen[var] = official
            report["images"][var] = f"{official} (official, pulled)"
            continue
        recipe = RECIPES[var]
        digest = recipe_hash(STANDINS / recipe, STANDINS / "build.sh", STANDINS / "base.sh")
        tag = f"albru-standin/{recipe}:{digest}"
        chosen[var] = tag
        report["images"][var] = f"{tag} (stand-in for {official})"
        if image_exists(tag):
            report["reused"].append(tag)
        else:
            to_build.append((var, recipe, tag))
    if to_build:
        started = time.monotonic()
        base, base_s = base_image()
        report["base_s"] = base_s
        log(f"building stand-ins: {', '.join(t for _, _, t in to_build)}")
        errors: list[str] = []

        def build(recipe: str, tag: str) -> None:
            try:
                run(["bash", str(STANDINS / "build.sh"), recipe, base, tag], timeout=1800)
            except (SmokeFailure, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=build, args=(r, t)) for _, r, t in to_build]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(not errors, "stand-in build failed:\n" + "\n".join(errors))
        report["built"] = [t for _, _, t in to_build]
        report["build_s"] = round(time.monotonic() - started, 1)
    return chosen, report


# ------------------------------------------------------------------ the stack

class Stack:
    def __init__(self, compose: list[str], project: str, env_file: Path) -> None:
        self.base = compose + ["-f", str(COMPOSE_FILE), "-p", project,
                               "--env-file", str(env_file)]
        self.project = project

    def __call__(self, *args: str, **kw: Any) -> subprocess.CompletedProcess:
        return run(self.base + list(args), **kw)

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        filters = ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        ids = run(["docker", "ps", "-aq", *filters]).stdout.split()
        if not ids:
            return []
        return json.loads(run(["docker", "inspect", *ids]).stdout)

    def wait_healthy(self, timeout: float) -> dict[str, str]:
        """Every container healthy (migrate: exited 0)."""
        end = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < end:
            states = {}
            for c in self.containers():
                name = c["Name"].lstrip("/")
                st = c["State"]
                if c["Config"]["Labels"].get("com.docker.compose.service") == "migrate":
                    states[name] = "done" if st["Status"] == "exited" and st["ExitCode"] == 0 \
                        else st["Status"]
                    failed = st["Status"] == "exited" and st["ExitCode"] != 0
                    check(not failed, f"migrate failed:\n{self.logs('migrate')[-3000:]}")
                else:
                    states[name] = (st.get("Health") or {}).get("Status", st["Status"])
            if states and all(s in ("healthy", "done") for s in states.values()):
                return states
            time.sleep(1)
        raise SmokeFailure(f"not healthy within {timeout:.0f} s: {states}")

    def logs(self, *services: str) -> str:
        done = self("logs", "--no-color", *services, check_rc=False)
        return done.stdout + done.stderr


def write_env_file(path: Path, overrides: dict[str, str]) -> dict[str, str]:
    """env.example as an operator fills it in: fresh secrets, the rest as shipped,
    plus the smoke's own ports and images."""
    values = {name: secrets.token_hex(24) for name in SECRETS}
    values.update(overrides)
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if m and m.group(1) in values:
            continue
        lines.append(line)
    lines.append("")
    lines.append("# --- compose-smoke ---")
    lines += [f"{k}={v}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return values


# ------------------------------------------------------------------ clients

class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def req(self, method: str, path: str, token: str | None = None, **kw: Any
            ) -> requests.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base + path, headers=headers,
                                 timeout=kw.pop("timeout", 15), **kw)

    def ok(self, method: str, path: str, token: str | None = None, status: tuple = (200, 201),
           **kw: Any) -> dict:
        r = self.req(method, path, token, **kw)
        check(r.status_code in status, f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def login(self, username: str, password: str) -> tuple[str, dict]:
        body = self.ok("POST", "/api/auth/login", json={"username": username,
                                                          "password": password})
        return body["token"], body["user"]


class Watcher:
    """The GTR screen: websocket only, reconnects by itself, resumes from the
    last seq it applied, and notes when each event arrived."""

    def __init__(self, base: str, token: str, last_seq: int) -> None:
        self.lock = threading.Lock()
        self.token, self.last = token, last_seq
        self.start_seq = last_seq
        self.seqs: list[int] = []
        self.arrivals: dict[tuple[str, int], float] = {}  # (event, cliente_id) -> time
        self.resyncs: list[dict] = []
        self.connects = 0
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.2,
                                      reconnection_delay_max=0.5, randomization_factor=0)
        self.client.on("*", self._on_any)
        self.client.on("connect", self._on_connect)
        # websocket-client sends `Origin: http://127.0.0.1:<port>`, as a browser on
        # the page nginx serves does (a second Origin header would be joined to the
        # first and refused): the port must survive nginx's Host header (bug 2).
        self.client.connect(base, auth=self._auth, transports=["websocket"], wait_timeout=10)

    def _auth(self) -> dict:
        with self.lock:
            return {"token": self.token, "last_seq": self.last}

    def _on_connect(self) -> None:
        with self.lock:
            self.connects += 1

    def _on_any(self, event: str, data: Any = None) -> None:
        now = time.monotonic()
        with self.lock:
            if event == "resync":
                self.resyncs.append(data)
                return
            if not isinstance(data, dict) or not isinstance(data.get("seq"), int):
                return
            if data["seq"] <= self.last:
                return  # a duplicate; the seq check below counts gaps
            self.seqs.append(data["seq"])
            self.last = data["seq"]
            if data.get("cliente_id") is not None:
                self.arrivals.setdefault((event, data["cliente_id"]), now)

    def wait_event(self, event: str, cliente_id: int, timeout: float = 15) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if (event, cliente_id) in self.arrivals:
                    return self.arrivals[(event, cliente_id)]
            time.sleep(0.005)
        raise SmokeFailure(f"no {event} for cliente {cliente_id} within {timeout} s")

    def gaps(self) -> list[int]:
        with self.lock:
            seqs = list(self.seqs)
        expected = list(range(self.start_seq + 1, (seqs[-1] if seqs else self.start_seq) + 1))
        return sorted(set(expected) - set(seqs))

    def cut(self) -> None:
        """Drop the TCP connection under the client (it reconnects through nginx)."""
        self.client.eio.ws.sock.shutdown(socket.SHUT_RDWR)

    def wait_connected(self, after_connects: int, timeout: float) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if self.connects > after_connects and self.client.connected:
                    return time.monotonic()
            time.sleep(0.01)
        raise SmokeFailure(f"the socket did not reconnect within {timeout} s")


# ------------------------------------------------------------------ the checks

class Smoke:
    def __init__(self, stack: Stack, http_port: int, adminer_port: int, env: dict[str, str]):
        self.stack = stack
        self.base = f"http://127.0.0.1:{http_port}"
        self.api = Api(self.base)
        self.adminer_port = adminer_port
        self.env = env
        self.figures: dict[str, Any] = {}
        self.passwords = {"smoke-gtr": secrets.token_urlsafe(16),
                          "smoke-asesor": secrets.token_urlsafe(16)}

    def flask(self, *args: str, input: str | None = None, check_rc: bool = True
              ) -> subprocess.CompletedProcess:
        return self.stack("exec", "-T", "web", "flask", "--app", "app", *args, input=input,
                          check_rc=check_rc, timeout=120)

    def first_users(self) -> None:
        """The operator's first day, no SQL: seed-demo refuses production, users create."""
        seeded = self.flask("seed-demo", check_rc=False)
        check(seeded.returncode != 0 and "refused" in seeded.stdout + seeded.stderr,
              f"seed-demo ran in production without --force:\n{seeded.stdout}{seeded.stderr}")
        self.flask("users", "create", "smoke-gtr", "--role", "gtr", "--nombre", "Smoke GTR",
                   "--password-stdin", input=self.passwords["smoke-gtr"] + "\n")
        self.flask("users", "create", "smoke-asesor", "--role", "asesor", "--nombre",
                   "Smoke Asesor", "--password-stdin", input=self.passwords["smoke-asesor"] + "\n")
        listed = self.flask("users", "list").stdout
        check("smoke-gtr" in listed and "smoke-asesor" in listed, listed)
        log("first users created with `flask --app app users create`; seed-demo refused")

    def edge(self) -> None:
        r = self.api.req("GET", "/nginx-health")
        check(r.status_code == 200, f"/nginx-health: {r.status_code}")
        end = time.monotonic() + 60
        while (r := self.api.req("GET", "/api/health")).status_code != 200:
            check(time.monotonic() < end, f"/api/health: {r.status_code} {r.text[:500]}")
            time.sleep(1)
        for path in ("/metrics", "/flower/metrics", "/flower/healthcheck"):
            r = self.api.req("GET", path)
            check(r.status_code == 404, f"{path} is reachable from outside: {r.status_code}")
        r = self.api.req("GET", "/flower/")
        check(r.status_code == 401, f"Flower without a login: {r.status_code}")
        r = self.api.req("GET", "/flower/workers",
                         auth=(self.env.get("FLOWER_USER", "admin"), self.env["FLOWER_PASSWORD"]))
        check(r.status_code == 200, f"Flower with its login: {r.status_code}")
        log("health 200; /metrics, /flower/metrics, /flower/healthcheck 404; Flower asks a login")

    def front_capacity(self) -> None:
        """A shift of open desks fits (bug: the image's 1,024 connections a
        worker, ~500 websockets): the limits the containers really run with,
        then HELD_CONNECTIONS connections held at once through the front."""
        conf = self.stack("exec", "-T", "nginx", "nginx", "-T").stdout
        found = re.search(r"^\s*worker_connections\s+(\d+);", conf, re.M)
        check(found and int(found.group(1)) >= 2 * DESKS,
              f"front's worker_connections: {found and found.group(1)}")
        files = {service: self.open_files(service, marker)
                 for service, marker in (("nginx", "nginx: worker"), ("web", "app.server"))}
        soft, hard = files["web"]
        check(soft == hard, f"the web process did not raise its open files: {soft} of {hard}")
        check(files["nginx"][0] >= 2 * HELD_CONNECTIONS, f"nginx worker's open files: {files}")
        self.figures["open_files"] = files
        host, port = self.base.removeprefix("http://").split(":")
        failed = asyncio.run(hold_connections(host, int(port), HELD_CONNECTIONS))
        check(not failed, f"{len(failed)} of {HELD_CONNECTIONS} held connections refused: "
                          f"{sorted(set(failed))[:5]}")
        self.figures["front_held_connections"] = HELD_CONNECTIONS
        log(f"front: worker_connections {found.group(1)}, open files (soft, hard) {files}; "
            f"{HELD_CONNECTIONS} connections held at once, each answered")

    def open_files(self, service: str, marker: str) -> tuple[int, int]:
        """(soft, hard) open files of the first process in `service`'s container
        whose command line holds `marker`, as the kernel reports them."""
        script = ('for p in /proc/[0-9]*; do [ "$p" = "/proc/$$" ] && continue; '
                  'c=$(tr "\\0" " " < "$p/cmdline" 2>/dev/null); case "$c" in *"$1"*) '
                  'grep "Max open files" "$p/limits"; exit 0;; esac; done; exit 1')
        out = self.stack("exec", "-T", service, "sh", "-c", script, "sh", marker).stdout
        found = re.search(r"Max open files\s+(\d+)\s+(\d+)", out)
        check(found, f"no process with {marker!r} in {service}: {out!r}")
        return int(found.group(1)), int(found.group(2))

    def ui(self) -> None:
        """The built UI from nginx, not a placeholder (bug 1: the host's empty web/dist)."""
        for path in ("/", "/login", "/gtr", "/asesor"):
            r = self.api.req("GET", path)
            check(r.status_code == 200, f"UI {path}: {r.status_code}")
            scripts = re.findall(r'src="(/assets/[^"]+\.js)"', r.text)
            check(scripts, f"UI {path} is not the built UI (no /assets/*.js):\n{r.text[:400]}")
        asset = self.api.req("GET", scripts[0])
        check(asset.status_code == 200 and len(asset.content) > 10_000
              and "javascript" in asset.headers.get("Content-Type", ""),
              f"{scripts[0]}: {asset.status_code} {asset.headers.get('Content-Type')}")
        log(f"the built UI: /, /login, /gtr, /asesor and {scripts[0]} ({len(asset.content)} B)")

    def adminer(self) -> None:
        published = []
        for c in self.stack.containers("adminer"):
            for binding in (c["NetworkSettings"]["Ports"] or {}).get("8080/tcp") or []:
                published.append(binding["HostIp"])
        check(published and all(ip == "127.0.0.1" for ip in published),
              f"Adminer published on {published}, not loopback only")
        r = requests.get(f"http://127.0.0.1:{self.adminer_port}/", timeout=15)
        check(r.status_code == 200 and "Adminer" in r.text, f"Adminer: {r.status_code}")
        log("Adminer answers on 127.0.0.1 only")

    def rate_limit(self) -> None:
        """Bug 3: with PROXY_HOPS=0 every client looks like nginx. Lock a username
        from here; from another address (a container on the compose network,
        through nginx) the same username must still be let through to try."""
        body = {"username": "smoke-lock", "password": "wrong-password"}
        codes = [self.api.req("POST", "/api/auth/login", json=body).status_code
                 for _ in range(LOGIN_LIMIT + 1)]
        check(codes[:LOGIN_LIMIT] == [401] * LOGIN_LIMIT and codes[-1] == 429,
              f"login limit {LOGIN_LIMIT}/minute not applied: {codes}")
        probe = ("import json,urllib.request,urllib.error\n"
                 "req=urllib.request.Request('http://nginx/api/auth/login',"
                 f"data=json.dumps({body!r}).encode(),"
                 "headers={'Content-Type':'application/json'})\n"
                 "try:\n urllib.request.urlopen(req,timeout=10); print(200)\n"
                 "except urllib.error.HTTPError as e: print(e.code)\n")
        other = self.stack("exec", "-T", "worker", "python", "-c", probe).stdout.strip()
        check(other == "401", f"another client address got {other} for the locked username: "
              "the rate limit does not see the real client address (PROXY_HOPS?)")
        log(f"login limit per real address: here {codes[-1]} after {LOGIN_LIMIT}, "
            f"another address {other}")

    def session_flow(self) -> None:
        gtr, _ = self.api.login("smoke-gtr", self.passwords["smoke-gtr"])
        asesor, me = self.api.login("smoke-asesor", self.passwords["smoke-asesor"])
        self.gtr, self.asesor, self.asesor_id = gtr, asesor, me["id"]
        start_seq = self.api.ok("GET", "/api/board", gtr)["seq"] or 0
        self.watcher = Watcher(self.base, gtr, start_seq)
        latencies = []
        for i in range(5):
            t0 = time.monotonic()
            c = self.api.ok("POST", "/api/clientes", gtr, json={
                "nombre": f"Smoke {i}", "telefono": f"+51 900 000 {i:03d}"})
            latencies.append(self.watcher.wait_event("CLIENT_CREATED", c["id"]) - t0)
            cid = c["id"]
            t0 = time.monotonic()
            self.api.ok("POST", f"/api/clientes/{cid}/derivar", gtr,
                        json={"asesor_id": self.asesor_id})
            latencies.append(self.watcher.wait_event("CLIENT_DERIVED", cid) - t0)
            t0 = time.monotonic()
            s = self.api.ok("POST", "/api/sessions/start", asesor, json={"cliente_id": cid})
            latencies.append(self.watcher.wait_event("CLIENT_IN_GESTION", cid) - t0)
            sid = s["session_id"]
            self.api.ok("POST", "/api/sessions/heartbeat", asesor,
                        json={"cliente_id": cid, "session_id": sid})
            t0 = time.monotonic()
            self.api.ok("POST", "/api/sessions/end", asesor,
                        json={"cliente_id": cid, "session_id": sid, "resultado": "gestionado"})
            latencies.append(self.watcher.wait_event("CLIENT_COMPLETED", cid) - t0)
        gaps = self.watcher.gaps()
        check(not gaps, f"seq gaps on the GTR socket: {gaps[:20]}")
        ms = sorted(x * 1000 for x in latencies)
        self.figures["push_latency_ms"] = {
            "n": len(ms), "median": round(statistics.median(ms), 1),
            "p90": round(ms[int(len(ms) * 0.9) - 1], 1), "max": round(ms[-1], 1)}
        log(f"session flow x5 through nginx; {len(self.watcher.seqs)} events, no seq gap; "
            f"push latency (request sent -> event on the GTR socket) "
            f"median {self.figures['push_latency_ms']['median']} ms, "
            f"max {self.figures['push_latency_ms']['max']} ms")

    def live_session(self) -> tuple[int, str]:
        c = self.api.ok("POST", "/api/clientes", self.gtr,
                        json={"nombre": "Smoke live", "telefono": "+51 900 111 222"})
        self.api.ok("POST", f"/api/clientes/{c['id']}/derivar", self.gtr,
                    json={"asesor_id": self.asesor_id})
        s = self.api.ok("POST", "/api/sessions/start", self.asesor, json={"cliente_id": c["id"]})
        return c["id"], s["session_id"]

    def posts_while(self, action, cid: int, sid: str, settle: float) -> tuple[list, list]:
        """Heartbeats and client creations, back to back, during `action`."""
        results: list[tuple[float, str, int | str]] = []
        stop = threading.Event()

        def traffic(kind: str) -> None:
            api = Api(self.base)  # its own connection to nginx
            n = 0
            while not stop.is_set():
                t = time.monotonic()
                try:
                    if kind == "heartbeat":
                        r = api.req("POST", "/api/sessions/heartbeat", self.asesor,
                                    json={"cliente_id": cid, "session_id": sid}, timeout=30)
                    else:
                        n += 1
                        r = api.req("POST", "/api/clientes", self.gtr, timeout=30, json={
                            "nombre": f"Smoke stop {n}", "telefono": f"+51 911 {n:06d}"})
                    results.append((t, kind, r.status_code))
                except requests.RequestException as exc:
                    results.append((t, kind, type(exc).__name__))
                time.sleep(0.02)

        threads = [threading.Thread(target=traffic, args=(k,)) for k in ("heartbeat", "create")]
        for t in threads:
            t.start()
        time.sleep(0.5)
        t_action = time.monotonic()
        action()
        time.sleep(settle)
        stop.set()
        for t in threads:
            t.join()
        failed = [(round(t - t_action, 2), k, s) for t, k, s in results
                  if s not in (200, 201)]
        return results, failed

    def graceful_stop(self) -> None:
        """Bug 4: POSTs during a graceful stop of a replica (the one holding our
        socket, so the socket moves too); nginx sends each POST to either."""
        cid, sid = self.live_session()
        name = self.socket_replica()
        check(name, "no single web replica holds the smoke's socket")
        results, failed = self.posts_while(
            lambda: run(["docker", "stop", "-t", "15", name]), cid, sid, settle=2.0)
        check(not failed, f"{len(failed)} of {len(results)} POSTs failed while {name} "
              f"stopped gracefully: {failed[:10]}")
        self.figures["graceful_stop_posts"] = len(results)
        log(f"graceful stop of {name}: {len(results)} POSTs (heartbeats and creations), "
            "none failed")
        run(["docker", "start", name])
        self.wait_replica_healthy(name)
        self.live = (cid, sid)

    def socket_replica(self) -> str | None:
        """The web container holding the watcher's socket (the smoke's only one):
        the replica whose own /metrics counts one Socket.IO connection."""
        probe = ("import re, urllib.request\n"
                 "t = urllib.request.urlopen('http://127.0.0.1:3001/metrics', timeout=5)"
                 ".read().decode()\n"
                 "print(re.search(r'^albru_socket_connections (\\S+)', t, re.M).group(1))")
        holders = []
        for container in self.stack.containers("web"):
            name = container["Name"].lstrip("/")
            count = run(["docker", "exec", name, "python", "-c", probe]).stdout.strip()
            if float(count) >= 1:
                holders.append(name)
        return holders[0] if len(holders) == 1 else None

    def wait_replica_healthy(self, name: str, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = json.loads(run(["docker", "inspect", name]).stdout)[0]["State"]
            if (st.get("Health") or {}).get("Status") == "healthy":
                return
            time.sleep(0.5)
        raise SmokeFailure(f"{name} not healthy again within {timeout} s")

    def crash(self) -> None:
        """Bug 5: the replica holding our socket dies: `docker kill`, its address
        stops answering at all (SYNs go unanswered until the host forgets it),
        and nginx's default 60 s connect timeout held its clients that long.
        The advisor's heartbeats, sent as the UI sends them, keep flowing: none
        may fail (nginx retries on the other replica the ones it hashed to the
        dead one) or wait past the bound; the socket must be back within a few
        seconds, with no gap."""
        cid, sid = self.live
        name = self.socket_replica()
        check(name, "no single web replica holds the smoke's socket")
        connects = self.watcher.connects
        before = self.watcher.last
        api = Api(self.base)
        t_kill = time.monotonic()
        run(["docker", "kill", name])
        waits: list[float] = []
        rids: list[str] = []
        errors = []
        socket_back = None
        while time.monotonic() - t_kill < 90:
            rid = uuid.uuid4().hex
            t = time.monotonic()
            try:
                r = api.req("POST", "/api/sessions/heartbeat", self.asesor,
                            json={"cliente_id": cid, "session_id": sid},
                            headers={"X-Request-ID": rid}, timeout=90)
                if r.status_code != 200:
                    errors.append(r.status_code)
            except requests.RequestException as exc:
                errors.append(type(exc).__name__)
            waits.append(time.monotonic() - t)
            rids.append(rid)
            if socket_back is None and self.watcher.connects > connects:
                socket_back = time.monotonic() - t_kill
            # past the socket's return and nginx's 5-s fail_timeout, when it
            # tries the dead replica again
            if socket_back is not None and time.monotonic() - t_kill > 8 and len(waits) >= 40:
                break
            time.sleep(0.1)  # ~10/s: within RATE_LIMIT_HEARTBEAT with the stop's POSTs
        if socket_back is None:
            socket_back = self.watcher.wait_connected(connects, 60) - t_kill
        retried = self.retried(rids)
        # An event after the kill must arrive, and the seqs stay gapless.
        c = self.api.ok("POST", "/api/clientes", self.gtr,
                        json={"nombre": "Smoke after kill", "telefono": "+51 900 333 444"})
        self.watcher.wait_event("CLIENT_CREATED", c["id"])
        gaps = self.watcher.gaps()
        check(not gaps, f"seq gaps after the kill: {gaps[:20]}")
        self.figures["recovery_s"] = {"rest_max_wait": round(max(waits), 2),
                                      "rest_calls": len(waits), "rest_retried": retried,
                                      "socket": round(socket_back, 2), "rest_errors": errors}
        log(f"docker kill of {name}: {len(waits)} heartbeats, none failed, longest "
            f"{max(waits):.2f} s, {retried} retried by nginx on the other replica; socket "
            f"back in {socket_back:.2f} s, events {before} -> {self.watcher.last}, no gap")
        check(not errors, f"requests failed during the crash (nginx should retry them): {errors}")
        check(retried >= 1, "no heartbeat was sent to the dead replica and retried: "
              "the kill was not tested")
        check(max(waits) <= RECOVERY_BOUND and socket_back <= RECOVERY_BOUND,
              f"recovery took too long: a heartbeat waited {max(waits):.1f} s, the socket "
              f"{socket_back:.1f} s (bound {RECOVERY_BOUND} s)")
        # Start it again (docker does not restart a container it was told to kill).
        if not json.loads(run(["docker", "inspect", name]).stdout)[0]["State"]["Running"]:
            run(["docker", "start", name])
        self.wait_replica_healthy(name)

    def retried(self, rids: list[str]) -> int:
        """Of these requests, how many nginx sent to a second replica after the
        first failed (its access log lists both upstream addresses)."""
        wanted = set(rids)
        found: dict[str, str] = {}
        for _ in range(50):
            for line in self.stack.logs("nginx").splitlines():
                if '"request_id"' in line and "{" in line:
                    with contextlib.suppress(ValueError):
                        entry = json.loads(line[line.index("{"):])
                        if entry.get("request_id") in wanted:
                            found[entry["request_id"]] = entry.get("upstream", "")
            if len(found) == len(wanted):
                break
            time.sleep(0.1)
        return sum(1 for upstream in found.values() if "," in upstream)


# ------------------------------------------------------------------ main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compose", choices=("auto", "v2", "v1"), default="auto",
                    help="docker compose (v2) or docker-compose (v1); auto: the first that answers")
    ap.add_argument("--project", default=f"albru-smoke-{secrets.token_hex(3)}",
                    help="compose project name (default: a new one, so two runs on one "
                         "engine do not meet)")
    ap.add_argument("--http-port", type=int, default=0,
                    help="host port for nginx (default: a free one; never 80, on purpose)")
    ap.add_argument("--adminer-port", type=int, default=0)
    ap.add_argument("--no-pull", action="store_true",
                    help="do not try to pull official images (use them only if present)")
    ap.add_argument("--out", default=os.environ.get(
        "COMPOSE_SMOKE_OUT", str(Path(tempfile.gettempdir()) / "albru-compose-smoke.json")))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    started = time.monotonic()
    figures: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    ok = False
    stack: Stack | None = None
    tmp = Path(tempfile.mkdtemp(prefix="albru-compose-smoke-"))
    try:
        check(not str(tmp).startswith(str(ROOT)), "the env file must live outside the tree")
        figures["engine"] = engine_check()
        compose = find_compose(args.compose)
        figures["compose"] = " ".join(compose) + " " + run(compose + ["version"]).stdout.split(
            "\n")[0]
        log(f"engine {figures['engine']}, {figures['compose']}")

        t = time.monotonic()
        images, report = resolve_images(pull=not args.no_pull)
        figures["images"] = report
        figures["images_s"] = round(time.monotonic() - t, 1)
        log(f"images ready in {figures['images_s']} s: built {report['built'] or 'none'}")

        http_port = args.http_port or free_port()
        check(http_port != 80, "the smoke runs nginx on a port other than 80 (bug 2)")
        adminer_port = args.adminer_port or free_port()
        env_file = tmp / "smoke.env"
        env = write_env_file(env_file, {
            "HTTP_PORT": str(http_port), "ADMINER_PORT": str(adminer_port),
            "RATE_LIMIT_LOGIN": f"{LOGIN_LIMIT}/minute", **images})
        stack = Stack(compose, args.project, env_file)
        stack("down", "-v", "--remove-orphans", check_rc=False)  # a previous run's leftovers

        # `up -d --build` in two steps, to time them apart. Only web and nginx are
        # built: migrate, worker, beat and flower run web's image (the same
        # `image:` name), and compose v1 would build it five times over.
        t = time.monotonic()
        stack("build", "web", "nginx", timeout=3600)
        figures["build_s"] = round(time.monotonic() - t, 1)
        log(f"compose build web nginx: {figures['build_s']} s")
        t = time.monotonic()
        stack("up", "-d", timeout=900)
        states = stack.wait_healthy(600)
        figures["healthy_s"] = round(time.monotonic() - t, 1)
        log(f"healthy {figures['healthy_s']} s after `up -d`: {sorted(states)}")

        smoke = Smoke(stack, http_port, adminer_port, env)
        smoke.edge()
        smoke.front_capacity()
        smoke.ui()
        smoke.adminer()
        smoke.first_users()
        smoke.rate_limit()
        smoke.session_flow()
        smoke.graceful_stop()
        smoke.crash()
        gaps = smoke.watcher.gaps()
        check(not gaps, f"seq gaps: {gaps[:20]}")
        figures.update(smoke.figures)
        figures["events_received"] = len(smoke.watcher.seqs)
        smoke.watcher.client.disconnect()

        t = time.monotonic()
        stopped = stack("stop", check_rc=False, timeout=300)
        figures["stop_s"] = round(time.monotonic() - t, 1)
        check(stopped.returncode == 0, f"compose stop exited {stopped.returncode}: "
              f"{stopped.stderr[-2000:]}")
        log(f"compose stop: exit 0 in {figures['stop_s']} s")
        check(figures["stop_s"] <= STOP_BOUND,
              f"compose stop took {figures['stop_s']} s (bound {STOP_BOUND} s)")
        codes = {c["Name"].lstrip("/"): c["State"]["ExitCode"] for c in stack.containers()}
        figures["exit_codes"] = codes
        killed = {n: c for n, c in codes.items() if c == 137}
        check(not killed, f"killed at the end of their grace period: {killed}")
        ok = True
    except Exception as exc:  # noqa: BLE001 - reported, then down -v
        log(f"FAILED: {type(exc).__name__}: {exc}")
        if not isinstance(exc, SmokeFailure):
            traceback.print_exc()
        if stack is not None:
            tail = stack.logs()
            (tmp / "compose.log").write_text(tail)
            print(tail[-6000:], flush=True)
    finally:
        if stack is not None:
            t = time.monotonic()
            stack("down", "-v", "--remove-orphans", check_rc=False, timeout=300)
            figures["down_s"] = round(time.monotonic() - t, 1)
        shutil.rmtree(tmp, ignore_errors=True)
        figures["total_s"] = round(time.monotonic() - started, 1)
        figures["ok"] = ok
        with contextlib.suppress(OSError):
            Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
        log(f"{'PASSED' if ok else 'FAILED'} in {figures['total_s']} s; figures in {args.out}")
        for key in ("images_s", "build_s", "healthy_s", "push_latency_ms", "recovery_s",
                    "stop_s", "total_s"):
            if key in figures:
                print(f"  {key}: {json.dumps(figures[key])}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
