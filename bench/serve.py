"""`neonblue serve` from the user's seat, on stores of 100k and 1M events.

Each store holds the demo portfolio at a fixed size (``--users`` per experiment, about
100k events) and, for larger stores, more experiments' traffic up to the size: the
analysed experiment stays the same while the log grows ten-fold. For each store size, with
the ratio to the same call in-process (the MCP server object in the benchmark's own
process, over the SDK's in-memory transport) measured in the same run:

- ``analyze_experiment_data`` p50/p95 over HTTP (goal <= 50 ms p95, flat from 100k to 1M);
- a deterministic question (``natural_language_analytics``) p50/p95 (goal <= 300 ms p95);
- ``neonblue ask`` from a cold CLI with serve running (goal <= 1 s) and without (<= 5 s);
- the first response of a stdio server (``initialize``), relayed to serve and standalone
  (goal <= 1.5 s);
- 50 concurrent HTTP clients x 100 calls of ``predict_user_assignment`` (goal p95 <= 50 ms,
  0 errors).

    python bench/serve.py [--sizes 100000,1000000] [--users 8333] [--calls 50] [--clients 50]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# run as a script: the repository root replaces bench/ (whose mcp.py and agents.py
# would shadow the packages of the same name)
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(_BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

from dataclasses import replace
from itertools import islice

import anyio
from mcp import Client, StdioServerParameters

from bench.serving import percentile, serving
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO, simulate_traffic
from tests.support.portfolio import START, build_portfolio
from tests.support.serve import env_for

KEY = "checkout-cta-contrast"
QUESTION = f"How is {KEY} doing?"
EVENTS_PER_USER = 2.4  # stored events per simulated user and experiment (measured)


def row(label: str, values: list[float], base: float | None = None, goal: str = "") -> None:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    ratio = f"{p50 / base:>7.1f}x" if base else " " * 8
    base_text = f"{base:>10.1f}" if base else " " * 10
    print(f"  {label:<46}{p50:>9.1f}{p95:>9.1f}{base_text}{ratio}  {goal}")


async def timed_calls(client: Client, tool: str, arguments: dict, calls: int) -> list[float]:
    await client.call_tool(tool, arguments)  # warm-up
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        result = await client.call_tool(tool, arguments)
        timings.append((time.perf_counter() - started) * 1000)
        assert not result.is_error, result.content
    return timings


async def in_process(data_dir: Path, calls: int) -> dict[str, list[float]]:
    """The baseline: the servers in this process, models caught up, no HTTP."""
    settings = EventStoreSettings(data_dir=data_dir, event_store="")
    with bootstrap(settings, follows_log=True) as services:
        models = services.read_models()
        for name in models.names:
            models.runner(name).catch_up()
        out = {}
        async with Client(services.mcp_server("postgresql")) as client:
            out["analyze"] = await timed_calls(
                client, "analyze_experiment_data", {"experiment_id": KEY}, calls
            )
            out["assign"] = await timed_calls(
                client, "predict_user_assignment", {"experiment_id": KEY, "user_id": "u-1"}, calls
            )
        async with Client(services.mcp_server("experiment_intelligence")) as client:
            out["question"] = await timed_calls(
                client, "natural_language_analytics", {"question": QUESTION}, calls
            )
    return out


async def over_http(url: str, calls: int) -> dict[str, list[float]]:
    out = {}
    async with Client(f"{url}/mcp/postgresql") as client:
        out["analyze"] = await timed_calls(
            client, "analyze_experiment_data", {"experiment_id": KEY}, calls
        )
    async with Client(f"{url}/mcp/experiment_intelligence") as client:
        out["question"] = await timed_calls(
            client, "natural_language_analytics", {"question": QUESTION}, calls
        )
    return out


async def concurrent(url: str, clients: int, calls: int) -> tuple[list[float], int, float]:
    """``clients`` MCP sessions calling a cheap tool ``calls`` times each, all at once."""
    timings: list[float] = []
    errors = 0

    async def one(index: int) -> None:
        nonlocal errors
        async with Client(f"{url}/mcp/postgresql", read_timeout_seconds=60) as client:
            for call in range(calls):
                arguments = {"experiment_id": KEY, "user_id": f"u-{index}-{call}"}
                started = time.perf_counter()
                try:
                    result = await client.call_tool("predict_user_assignment", arguments)
                    errors += bool(result.is_error)
                except Exception:
                    errors += 1
                timings.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index in range(clients):
            group.start_soon(one, index)
    return timings, errors, time.perf_counter() - started


def cli_ask(data_dir: Path, runs: int, **env: str) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "infrastructure.cli", "ask", QUESTION],
            env=env_for(data_dir, **env), cwd=data_dir, capture_output=True, text=True,
        )  # fmt: skip
        timings.append((time.perf_counter() - started) * 1000)
        assert done.returncode == 0 and KEY in done.stdout, done.stdout + done.stderr
    return timings


async def first_response(data_dir: Path, **env: str) -> float:
    command = [sys.executable, "-m", "infrastructure.cli", "mcp", "serve", "postgresql"]
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=env_for(data_dir, **env), cwd=str(data_dir)
    )
    started = time.perf_counter()
    async with Client(params, read_timeout_seconds=60):
        return (time.perf_counter() - started) * 1000


def stdio_first(data_dir: Path, runs: int, **env: str) -> list[float]:
    return [anyio.run(lambda: first_response(data_dir, **env)) for _ in range(runs)]


def build_store(data_dir: Path, events: int, users: int) -> int:
    """The portfolio at ``users`` per experiment, then other experiments' traffic (copies of
    the portfolio's plans under other keys) until the log holds about ``events``."""
    build_portfolio(data_dir, users)
    with bootstrap(EventStoreSettings(data_dir=data_dir, event_store="")) as services:
        app = services.app
        copy = 0
        while app.head() < events * 0.97:
            plan = PORTFOLIO[copy % len(PORTFOLIO)]
            plan = replace(plan, key=f"{plan.key}-{copy + 2}", name=f"{plan.name} {copy + 2}")
            missing = (events - app.head()) / EVENTS_PER_USER
            app.create_experiment(
                plan.key, plan.name, variants=plan.variants, metrics=plan.metrics, tags=plan.tags
            )
            app.start_experiment(plan.key, at=START)
            commands = simulate_traffic(
                plan, app.experiment(plan.key), round(min(missing, users * 4)), START, seed=copy
            )
            while batch := list(islice(commands, 2000)):
                app.record(batch)
            copy += 1
        return app.head()


def measure(events: int, users: int, calls: int, clients: int, client_calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        head = build_store(data_dir, events, users)
        print(
            f"\n{head:,} events ({KEY} and the rest of the portfolio: {users:,} users each; "
            f"built in {time.perf_counter() - started:.0f}s)"
        )
        base = anyio.run(in_process, data_dir, calls)
        alone = cli_ask(data_dir, 3, NEONBLUE_SERVE_DISCOVER="false")
        standalone_first = stdio_first(data_dir, 3, NEONBLUE_SERVE_DISCOVER="false")
        started = time.perf_counter()
        with serving(data_dir) as url:
            up = time.perf_counter() - started
            http = anyio.run(over_http, url, calls)
            served = cli_ask(data_dir, 5)
            relayed_first = stdio_first(data_dir, 3)
            load, errors, elapsed = anyio.run(concurrent, url, clients, client_calls)
        print(f"  serve started and caught up in {up:.1f}s")
        print(f"  {'':<46}{'p50 ms':>9}{'p95 ms':>9}{'in-proc':>10}{'ratio':>8}  goal")
        row(
            "analyze_experiment_data over HTTP",
            http["analyze"],
            percentile(base["analyze"], 0.5),
            "p95 <= 50",
        )
        row(
            "deterministic question over HTTP",
            http["question"],
            percentile(base["question"], 0.5),
            "p95 <= 300",
        )
        row("neonblue ask, cold CLI, serve running", served, None, "<= 1000")
        row("neonblue ask, cold CLI, no serve", alone, None, "<= 5000")
        row("stdio first response, relayed to serve", relayed_first, None, "<= 1500")
        row("stdio first response, standalone", standalone_first, None, "<= 1500")
        row(
            f"{clients} clients x {client_calls} predict_user_assignment",
            load,
            percentile(base["assign"], 0.5),
            "p95 <= 50",
        )
        print(
            f"  concurrency: {len(load):,} calls, {errors} errors, "
            f"{len(load) / elapsed:,.0f} calls/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="Store sizes in events.")
    parser.add_argument("--users", type=int, default=8333, help="Users per portfolio experiment.")
    parser.add_argument("--calls", type=int, default=50, help="Calls per latency figure.")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--client-calls", type=int, default=100)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        measure(size, args.users, args.calls, args.clients, args.client_calls)


if __name__ == "__main__":
    main()
