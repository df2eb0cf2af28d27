"""How long a full garbage collection stops a web process, before and after
app/server.py freezes the start-up objects.

    python -m bench.gcpause [--reps 5]

A web process serves every request on one event loop (gevent or eventlet),
so a full collection stops all the requests in flight for as long as it
takes. This builds the web app as app/server.py does (role "web", on the
test backends), warms it with requests, and times `gc.collect()`; then calls
`freeze_startup_objects()` and times it again. Prints the figures and writes
bench/results/gc-pause.json."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.backends import choose  # noqa: E402
from harness.stack import system_env  # noqa: E402


def collect_ms(reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        gc.collect()
        out.append(round((time.perf_counter() - t) * 1000, 2))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "gc-pause.json"))
    a = p.parse_args(argv)
    backends = choose()
    try:
        from app import create_app
        from app.server import freeze_startup_objects
        from core.settings import Settings

        env = {**system_env(backends), "ASYNC_MODE": "threading"}
        app = create_app(Settings.from_env(env), role="web")
        client = app.test_client()
        for _ in range(50):  # the code paths of a served request, imported and warm
            client.get("/api/health?live=1")
            client.post("/api/sessions/heartbeat", json={"cliente_id": 1})
        tracked_before = len(gc.get_objects())
        before = collect_ms(a.reps)
        freeze_startup_objects()
        after = collect_ms(a.reps)
        result = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "tracked_objects_before": tracked_before,
            "frozen_objects": gc.get_freeze_count(),
            "tracked_objects_after": len(gc.get_objects()),
            "full_collection_ms_before": before,
            "full_collection_ms_after": after,
        }
    finally:
        backends.close()
    print(json.dumps(result, indent=1))
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
