"""Small helpers the benchmarks share: percentiles, summaries, a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: Sequence[float], digits: int = 2) -> dict[str, float | int | None]:
    """{n, p50, p99, max} of a distribution (None when it is empty)."""
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(round(q * (n - 1))))], digits)

    return {"n": n, "p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], digits)}


def progress(label: str, done: float, total: float, extra: str = "") -> None:
    width = 30
    filled = int(width * min(done, total) / max(total, 1e-9))
    shown = f"{done:.0f}/{total:.0f}" if isinstance(done, float) else f"{done}/{total}"
    sys.stderr.write(f"\r{label:<24} [{'#' * filled}{'.' * (width - filled)}] {shown} {extra}"
                     .ljust(110)[:130])
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
