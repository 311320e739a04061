"""The dashboard's render time over a 1M-event store, next to /health and /api/results.

Builds (once; kept under ``--cache``, default /tmp/neonblue-bench-dashboard-<size>) the
store of `bench/serve.py` — the demo portfolio plus copies of its plans up to the size —
starts `neonblue serve` on it, waits until every projection reached the head, then times
over HTTP, from request to the last byte:

- ``/health`` and ``/api/results`` (the baseline: the cheapest page and the scorecard alone);
- the experiments page ``/`` and one experiment page, first render per engine (nothing
  cached: scorecards, day-by-day series from chDB, matplotlib charts) and then repeated
  renders at the same log position (answers cached per read-model position).

Goal: p95 <= 200 ms for both pages.

    python bench/dashboard.py [--events 1000000] [--calls 50] [--cache DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(_BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

import httpx

from bench.serve import KEY, build_store
from bench.serving import percentile, serving

ENGINES = ("sequential", "frequentist", "bayesian")


def timed(client: httpx.Client, path: str, calls: int) -> list[float]:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return timings


def row(label: str, values: list[float], base: float | None = None, goal: str = "") -> None:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    ratio = f"{p95 / base:>8.1f}x" if base else " " * 9
    print(f"  {label:<52}{len(values):>6}{p50:>9.1f}{p95:>9.1f}{ratio}  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=8333, help="Users per portfolio experiment.")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    data_dir = args.cache or Path(f"/tmp/neonblue-bench-dashboard-{args.events}")
    if not (data_dir / "built").exists():  # an interrupted build is started again
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        started = time.perf_counter()
        head = build_store(data_dir, args.events, args.users)
        (data_dir / "built").write_text(str(head))
        print(f"built {head:,} events in {time.perf_counter() - started:.0f}s into {data_dir}")
    started = time.perf_counter()
    with serving(data_dir, timeout=1800) as url, httpx.Client(base_url=url, timeout=120) as client:
        head = client.get("/health").json()["head"]
        print(f"\n{head:,} events; serve up and caught up in {time.perf_counter() - started:.0f}s")
        health = timed(client, "/health", args.calls)
        results = timed(client, f"/api/results?experiment={KEY}", args.calls)
        cold_list = timed(client, "/", 1)
        cold_one = [timed(client, f"/experiments/{KEY}?engine={e}", 1)[0] for e in ENGINES]
        warm_list = timed(client, "/", args.calls)
        warm_one = timed(client, f"/experiments/{KEY}", args.calls)
    base = percentile(health, 0.95)
    print(f"  {'':<52}{'calls':>6}{'p50 ms':>9}{'p95 ms':>9}{'/health':>9}  goal")
    row("/health (baseline)", health, base)
    row(f"/api/results {KEY} (scorecard alone)", results, base)
    row("experiments page, first render", cold_list, base)
    row(f"experiment page {KEY}, first render per engine", cold_one, base)
    row("experiments page, same position", warm_list, base, "p95 <= 200")
    row(f"experiment page {KEY}, same position", warm_one, base, "p95 <= 200")


if __name__ == "__main__":
    main()
