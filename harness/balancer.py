"""Production's load balancing on loopback: nginx with deploy/nginx/nginx.conf and
default.conf in front of several web processes, for benchmarks that need more than one.

Production hashes each REST request and each websocket by its own request id
(only a long-polling Socket.IO session sticks to its client's address), so the
benchmarks' clients all leave from 127.0.0.1, as a call center's desks leave
from one NAT address, and still reach every replica.
"""

from __future__ import annotations

import asyncio
import re
import resource
import shutil
from pathlib import Path

from harness.backends import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx" / "default.conf"
MAIN_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
#: where every benchmark client leaves from: one address, as a call center's
#: desks behind one NAT
CLIENT_ADDRESS = "127.0.0.1"
REPLICA_LINE = re.compile(r"^(\s*)server web:3001( [^;]*)?;$", re.M)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)


def config(ports: list[int], listen: int, logdir: Path) -> str:
    """deploy/nginx/default.conf with the compose names replaced: one `server`
    line a replica (same parameters), Flower on a closed port, the UI root a
    folder of the run's, the access log (same format) to a file."""
    text = NGINX_CONF.read_text()
    match = REPLICA_LINE.search(text)
    if match is None:
        raise RuntimeError(f"no 'server web:3001' line in {NGINX_CONF}")
    indent, params = match.group(1), match.group(2) or ""
    replicas = "\n".join(f"{indent}server 127.0.0.1:{p}{params};" for p in ports)
    text = REPLICA_LINE.sub(lambda _: replicas, text, count=1)
    text = text.replace("server flower:5555;", f"server 127.0.0.1:{free_port()};")
    text = re.sub(r"listen 80;", f"listen 127.0.0.1:{listen};", text, count=1)
    text = text.replace("access_log /dev/stdout albru_json;",
                        f"access_log {logdir}/nginx-access.log albru_json;")
    (logdir / "html").mkdir(exist_ok=True)
    return text.replace("root /usr/share/nginx/html;", f"root {logdir}/html;")


def main_config(site: Path, logdir: Path) -> str:
    """deploy/nginx/nginx.conf (the image's main config: workers, connections,
    open files) with the paths of a run: no `user` (an unprivileged run cannot
    switch), pid, error log and temp files under `logdir`, `site` included."""
    text = MAIN_CONF.read_text()
    text = re.sub(r"^user [^;]*;\n", "", text, flags=re.M)
    text = re.sub(r"^pid [^;]*;", f"pid {logdir}/nginx.pid;", text, flags=re.M)
    text = re.sub(r"^error_log [^;]*;", f"error_log {logdir}/nginx-error.log warn;", text,
                  flags=re.M)
    include = "include /etc/nginx/conf.d/*.conf;"
    if include not in text:
        raise RuntimeError(f"no '{include}' in {MAIN_CONF}")
    return "daemon off;\n" + text.replace(
        include, f"client_body_temp_path {logdir}/nginx-tmp;\n"
                 f"    proxy_temp_path {logdir}/nginx-tmp;\n    include {site};")


def write_main_conf(ports: list[int], listen: int, logdir: Path) -> Path:
    """Production's main nginx.conf around production's site, on loopback."""
    site = logdir / "albru-site.conf"
    site.write_text(config(ports, listen, logdir))
    main = logdir / "nginx.conf"
    main.write_text(main_config(site, logdir))
    (logdir / "nginx-tmp").mkdir(exist_ok=True)
    return main


def upstream_split(logdir: Path) -> dict[str, int]:
    """Requests per upstream address, from the access log (`"upstream":"…"`)."""
    counts: dict[str, int] = {}
    path = logdir / "nginx-access.log"
    if not path.exists():
        return counts
    with path.open(errors="replace") as f:
        for line in f:
            m = re.search(r'"upstream":"([^"]*)"', line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


async def hold_connections(host: str, port: int, count: int,
                           path: str = "/nginx-health") -> list[str]:
    """`count` connections to the front, all opened and held at once (as desks
    hold their websockets), then one GET `path` on each. Returns what each
    connection that did not get `200 OK` got instead (empty: all answered).
    Raises this process' open-files limit for them first. Used against nginx on
    loopback (tests/test_balancer.py) and the compose stack (scripts/compose_smoke.py)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
    opened = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in range(count)),
                                  return_exceptions=True)

    async def ask(conn) -> str:
        if isinstance(conn, BaseException):
            return f"connect: {conn!r}"
        reader, writer = conn
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: front\r\n\r\n".encode())
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 20)
            return line.decode(errors="replace").strip() or "closed"
        except (TimeoutError, OSError) as exc:
            return f"request: {exc!r}"
        finally:
            writer.close()

    answers = await asyncio.gather(*(ask(conn) for conn in opened))
    return [a for a in answers if a != "HTTP/1.1 200 OK"]
