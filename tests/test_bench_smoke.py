"""`make bench-smoke`: the benchmark harness on a small N, so it cannot rot.
No timing is asserted (the machine is shared); every figure must be there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.bench, pytest.mark.stack]  # the benchmark as a process


def test_bench_smoke_writes_every_figure(tmp_path):
    run = subprocess.run([sys.executable, "-m", "bench.scale", "--smoke", "--out-dir",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert (tmp_path / "smoke.png").stat().st_size > 10_000
    assert set(result["phases"]) == {"floor", "engine", "scan", "revoke"}
    floor, engine = result["phases"]["floor"], result["phases"]["engine"]
    for dist in (floor["pushes"]["event"], floor["pushes"]["bare_emit"], engine["heartbeat_ms"],
                 engine["start_ms"], engine["end_ms"], engine["push_ms"],
                 engine["timeout_lateness_s"], engine["pending_per_active_session"]):
        assert dist["n"] > 0 and None not in (dist["p50"], dist["p99"], dist["max"]), dist
    assert floor["race"]["clients"] > 0
    assert floor["race"]["several_winners"] == 0  # correctness, not timing
    for kind in ("noop", "heartbeat"):
        assert floor["capacity"][kind]["steps"], kind
        assert "sustained_per_s" in floor["capacity"][kind]
    assert floor["heartbeat_vs_noop"] is not None
    assert floor["push_event_vs_bare_emit_p99"] is not None
    for name in ("web", "worker", "beat"):
        assert engine["rss"][name]["end_mb"] > 0
    assert engine["cpu"]["web"]["cpu_s"] >= 0 and engine["web_cpu_s_per_1000_requests"]
    assert engine["loadgen_cpu_s"] >= 0
    for strategy in ("scan", "revoke"):
        ph = result["phases"][strategy]
        assert ph["timeout_lateness_s"]["due"] >= 0 and "pending_per_active_session" in ph
    assert set(result["verdicts"]) >= {"timeout_lateness_p99", "heartbeat_p99", "push_p99",
                                       "pending_per_session", "memory_flat", "heartbeat_vs_noop",
                                       "race_one_winner"}
    assert "| timeout lateness" in run.stdout  # the table was printed
