"""MCP tool latency: p50/p95 of each tool over a real stdio subprocess, on a simulated portfolio.

(`bench/serve.py` measures the same tools through a running `neonblue serve`.)

Baseline in the same run: the same tool's Python function called in-process (no MCP), so the
ratio shows what the protocol and process boundary add.

    python bench/mcp.py [--calls 20] [--users 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# run as a script: the repository root replaces bench/ (whose mcp.py and agents.py
# would shadow the packages of the same name)
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(_BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

import anyio
from mcp import Client, StdioServerParameters

from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings
from tests.support.portfolio import build_portfolio

CALLS = {
    "postgresql": [
        ("list_experiments", {}),
        ("analyze_experiment_data", {"experiment_id": "checkout-cta-contrast"}),
        ("predict_user_assignment", {"experiment_id": "checkout-cta-contrast", "user_id": "u-1"}),
        ("experiment_history", {"experiment_id": "homepage-hero-video"}),
    ],
    "clickhouse": [
        ("generate_analytics_insights", {"experiment_id": "checkout-cta-contrast"}),
        ("predict_experiment_trends", {"experiment_id": "checkout-cta-contrast"}),
        ("metric_timeseries", {"experiment_id": "pricing-annual-discount"}),
        ("segment_breakdown", {"experiment_id": "free-shipping-threshold"}),
    ],
    "chromadb": [
        ("semantic_experiment_search", {"query": "make the buy button easier to see"}),
        ("find_similar_experiments", {"experiment_id": "checkout-cta-contrast"}),
    ],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def over_stdio(data_dir: Path, server: str, calls: int) -> dict[str, list[float]]:
    env = {**os.environ, "NEONBLUE_DATA_DIR": str(data_dir), "NEONBLUE_EVENT_STORE": ""}
    env["NEONBLUE_SERVE_DISCOVER"] = "false"  # this server opens the stores itself
    command = [sys.executable, "-m", "infrastructure.cli", "mcp", "serve", server]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=data_dir)
    timings: dict[str, list[float]] = {}
    async with Client(params, read_timeout_seconds=300) as client:
        for tool, arguments in CALLS[server]:
            await client.call_tool(tool, arguments)  # warm-up (catch-up, model load)
            for _ in range(calls):
                started = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                timings.setdefault(tool, []).append((time.perf_counter() - started) * 1000)
                assert not result.is_error, result.content
    return timings


async def in_process(data_dir: Path, server: str, calls: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    with bootstrap(EventStoreSettings(data_dir=data_dir, event_store="")) as services:
        async with Client(
            services.mcp_server(server)
        ) as client:  # in-process: no subprocess, no JSON-RPC pipe
            for tool, arguments in CALLS[server]:
                await client.call_tool(tool, arguments)
                for _ in range(calls):
                    started = time.perf_counter()
                    await client.call_tool(tool, arguments)
                    timings.setdefault(tool, []).append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--users", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        build_portfolio(data_dir, args.users)
        print(f"{'server.tool':<46}{'p50 ms':>9}{'p95 ms':>9}{'in-proc p50':>13}{'ratio':>8}")
        for server in CALLS:
            stdio = anyio.run(over_stdio, data_dir, server, args.calls)
            local = anyio.run(in_process, data_dir, server, args.calls)
            for tool, values in stdio.items():
                p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
                base = percentile(local[tool], 0.5)
                print(
                    f"{server + '.' + tool:<46}{p50:>9.1f}{p95:>9.1f}{base:>13.1f}"
                    f"{p50 / base:>7.2f}x"
                )


if __name__ == "__main__":
    main()
