"""The dashboard's render time over a 1M-event store, next to /health and /api/results.

Builds (once; kept under ``--cache``, default /tmp/neonblue-bench-dashboard-<size>) the
store of `bench/serve.py` (the demo portfolio plus copies of its plans up to the size),
then times over HTTP, from request to the last byte, the experiments page ``/`` and one
experiment page, in the moments a user meets them:

1. serve's first start on the store (no snapshots yet): the first request once serve is
   ready (caught up), while its warmer computes every answer; how long that first pass took;
2. the first opening of experiment pages never opened, once serve's drawer drew every
   page's charts in the background (with how long that warm-up took, its CPU and the
   memory its answers hold per experiment); repeated renders at the same log position
   (p50/p95), and each engine's first render (CUPED off) after the pass;
3. right after a batch of new events was projected: the first request (it shows the
   previous snapshot, with its position) and how long until the page shows the new position;
4. after a restart: the first request (snapshots from the file the last run left).

Baselines in the same run: ``/health`` (the cheapest answer) and ``/api/results`` (one
scorecard computed at request). Goal: p95 <= 200 ms for both pages.

    python bench/dashboard.py [--events 1000000] [--calls 50] [--batch 500] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from itertools import islice
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(_BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

import httpx

from bench.serve import KEY, build_store
from bench.serving import percentile, serving
from infrastructure.bootstrap import bootstrap
from infrastructure.serve.dashboard.snapshots import FILE
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO, simulate_traffic
from tests.support.portfolio import START

ENGINES = ("sequential", "frequentist", "bayesian")
PAGES = ("/", f"/experiments/{KEY}")
NAMES = {"/": "experiments page", f"/experiments/{KEY}": f"experiment page {KEY}"}


def get(client: httpx.Client, path: str) -> tuple[float, int]:
    """Milliseconds to the last byte, and the log position the page says it shows."""
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    found = re.search(r'data-position="(\d+)"', response.text)
    return elapsed, int(found.group(1)) if found else -1


def timed(client: httpx.Client, path: str, calls: int) -> list[float]:
    return [get(client, path)[0] for _ in range(calls)]


def row(label: str, values: list[float], base: float, goal: str = "") -> None:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    print(f"  {label:<62}{len(values):>6}{p50:>9.1f}{p95:>9.1f}{p95 / base:>9.1f}x  {goal}")


def first(client: httpx.Client, label: str, rows: list, head: int) -> None:
    for path in PAGES:
        elapsed, position = get(client, path)
        rows.append((f"{NAMES[path]}, {label} (shows {position:,} of {head:,})", [elapsed]))


def health(client: httpx.Client) -> dict:
    return client.get("/health").json()


def wait_for(check, timeout: float = 900) -> float:
    started = time.perf_counter()
    while not check():
        assert time.perf_counter() - started < timeout, "timed out"
        time.sleep(0.1)
    return time.perf_counter() - started


def never_opened(client: httpx.Client, count: int) -> list[str]:
    """Experiment pages the bench did not open (from the experiments page's rows)."""
    keys = re.findall(r'data-key="([^"]+)"', client.get("/").text)
    return [k for k in dict.fromkeys(keys) if k != KEY][:count]


def held_per_experiment(data_dir: Path) -> tuple[float, float]:
    """Mean and largest KB of charts and segments an experiment's answers hold (JSON)."""
    sizes: dict[str, int] = {}
    for what, _position, value in json.loads((data_dir / FILE).read_text())["answers"]:
        if what[0] in ("traffic", "lift", "segments"):
            sizes[what[1]] = sizes.get(what[1], 0) + len(json.dumps(value))
    return sum(sizes.values()) / len(sizes) / 1024, max(sizes.values()) / 1024


def append_batch(data_dir: Path, users: int, existing: int) -> int:
    """``users`` new users' traffic for KEY (ids after the ``existing`` ones); the new head."""
    plan = next(p for p in PORTFOLIO if p.key == KEY)
    with bootstrap(EventStoreSettings(data_dir=data_dir, event_store="")) as services:
        app = services.app
        commands = (
            c
            for c in simulate_traffic(plan, app.experiment(KEY), existing + users, START, seed=99)
            if int(c.user_id.rsplit("-", 1)[1]) >= existing
        )
        while batch := list(islice(commands, 2000)):
            app.record(batch)
        return app.head()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=8333, help="Users per portfolio experiment.")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500, help="New users in the new batch.")
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
    (data_dir / FILE).unlink(missing_ok=True)  # a first start: nothing computed yet
    appended = len(list(data_dir.glob("appended-*")))  # batches earlier runs added to KEY
    rows: list[tuple[str, list[float]]] = []
    notes: list[str] = []
    started = time.perf_counter()
    draw = {"NEONBLUE_SERVE_DRAW_AHEAD": "1"}  # the default (the tests turn it off)
    with (
        serving(data_dir, timeout=1800, **draw) as url,
        httpx.Client(base_url=url, timeout=300) as client,
    ):
        head = health(client)["head"]
        notes.append(
            f"{head:,} events; serve up and caught up in {time.perf_counter() - started:.0f}s"
        )
        first(client, "first request after the first start", rows, head)
        wait_for(lambda: health(client)["dashboard"]["passes"] >= 1)
        board = health(client)["dashboard"]
        notes.append(
            f"first warm pass: {board['last_pass_seconds']:.1f}s, {board['answers']} answers"
        )
        wait_for(lambda: health(client)["dashboard"]["drawer"]["first_round_seconds"] is not None)
        drawer = health(client)["dashboard"]["drawer"]
        mean_kb, most_kb = held_per_experiment(data_dir)
        notes.append(
            f"drawer's warm-up (every page's charts, from serve ready): "
            f"{drawer['first_round_seconds']:.1f}s wall, {drawer['cpu_seconds']:.1f}s CPU; "
            f"charts and segments held: {mean_kb:.0f} KB per experiment (largest {most_kb:.0f})"
        )
        for key in never_opened(client, 5):
            rows.append((f"experiment page never opened, first opening ({key})",
                         timed(client, f"/experiments/{key}", 1)))  # fmt: skip
        rows.append(("/health (baseline)", timed(client, "/health", args.calls)))
        rows.append((f"/api/results {KEY} (a scorecard at request)",
                     timed(client, f"/api/results?experiment={KEY}", args.calls)))  # fmt: skip
        for engine in ENGINES:
            path = f"/experiments/{KEY}?engine={engine}&cuped=off"
            rows.append(
                (f"experiment page, {engine} CUPED off, first render", timed(client, path, 1))
            )
        for path in PAGES:
            rows.append((f"{NAMES[path]}, same position", timed(client, path, args.calls)))
        new_head = append_batch(data_dir, args.batch, args.users + appended * args.batch)
        (data_dir / f"appended-{appended}").write_text(str(new_head))

        def projected() -> bool:
            found = {p["name"]: p["position"] for p in health(client)["projections"]}
            return found["analytics"] >= new_head

        wait_for(projected)
        first(client, f"first request after {new_head - head:,} new events", rows, new_head)
        for path in PAGES:
            waited = wait_for(lambda path=path: get(client, path)[1] >= new_head)
            notes.append(
                f"{NAMES[path]} showed the new position {waited:.1f}s after it was projected"
            )
        head = new_head
    started = time.perf_counter()
    with (
        serving(data_dir, timeout=1800, **draw) as url,
        httpx.Client(base_url=url, timeout=300) as client,
    ):
        notes.append(f"restart: serve up in {time.perf_counter() - started:.1f}s")
        first(client, "first request after a restart", rows, head)
    base = percentile(dict(rows)["/health (baseline)"], 0.95)
    print("\n".join(notes))
    print(f"  {'':<62}{'calls':>6}{'p50 ms':>9}{'p95 ms':>9}{'/health':>10}  goal")
    for label, values in rows:
        row(label, values, base, "p95 <= 200" if "page" in label else "")


if __name__ == "__main__":
    main()
