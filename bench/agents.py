"""End-to-end latency of deterministic agent answers, the graphs reading through the MCP
servers of a running `neonblue serve` over streamable HTTP.

Prints p50/p95 per question kind, next to the same questions answered with the MCP servers
in the benchmark's own process (in-memory transport) measured in the same run, and the ratio.

    python bench/agents.py [--rounds 5] [--users 3000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# run as a script: the repository root replaces bench/ (whose mcp.py and agents.py
# would shadow the packages of the same name)
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(_BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

import anyio

from agents.analytics.runner import ask_with
from agents.common.toolbox import HttpTarget, McpToolbox
from bench.serving import percentile, serving
from infrastructure.bootstrap import READ_SERVERS, bootstrap
from infrastructure.settings import EventStoreSettings
from tests.support.portfolio import build_portfolio

QUESTIONS = [
    "How is the checkout cta contrast test doing?",
    "Which experiments are running?",
    "Which variant does user u-42 get in free-shipping-threshold?",
    "Find experiments about autoplay video on the homepage",
    "Which devices responded best in free-shipping-threshold?",
]


async def measure(
    settings: EventStoreSettings, rounds: int, url: str | None
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    with bootstrap(settings) as services:
        servers = (
            {name: HttpTarget(f"{url}/mcp/{name}") for name in READ_SERVERS}
            if url
            else services.read_servers()
        )
        async with McpToolbox(servers) as toolbox:
            for question in QUESTIONS:
                await ask_with(services, toolbox, question)  # warm-up
                for _ in range(rounds):
                    started = time.perf_counter()
                    await ask_with(services, toolbox, question)
                    timings.setdefault(question, []).append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = EventStoreSettings(data_dir=Path(tmp), event_store="")
        build_portfolio(settings.data_dir, args.users)
        local = anyio.run(measure, settings, args.rounds, None)
        with serving(settings.data_dir) as url:
            served = anyio.run(measure, settings, args.rounds, url)
    everything = [v for values in served.values() for v in values]
    print(f"{'question':<62}{'p50 ms':>9}{'p95 ms':>9}{'in-proc p50':>13}{'ratio':>8}")
    for question, values in served.items():
        p50, base = percentile(values, 0.5), percentile(local[question], 0.5)
        print(
            f"{question[:60]:<62}{p50:>9.1f}{percentile(values, 0.95):>9.1f}{base:>13.1f}"
            f"{p50 / base:>7.2f}x"
        )
    print(
        f"{'all questions':<62}{percentile(everything, 0.5):>9.1f}"
        f"{percentile(everything, 0.95):>9.1f}"
    )


if __name__ == "__main__":
    main()
