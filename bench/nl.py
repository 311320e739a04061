"""Natural-language analytics: answered/total and latency over the public evaluation set.

Deterministic mode in this process (in-memory MCP transport) and through a running
`neonblue serve` (POST /api/ask, what the CLI and the dashboard call); LLM mode against the
local OpenAI-compatible stub (planning + prose + verification, two model calls a question);
and `neonblue ask` from a cold CLI with and without serve. The baseline measured in the same
run is one `analyze_experiment_data` call in-process; ratios are against it.

    python bench/nl.py [--users 1500] [--rounds 1] [--cli-runs 3]
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

import anyio
import httpx

from agents.common.llm import LlmSettings
from bench.serving import percentile, serving
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings
from tests.agents.test_nl_eval import QUESTIONS
from tests.support.openai_stub import running_stub
from tests.support.portfolio import build_portfolio
from tests.support.serve import env_for

ASKED = [question for question, _ in QUESTIONS]
COLD_QUESTION = "How is checkout-cta-contrast doing?"


async def in_process(
    settings: EventStoreSettings, rounds: int, llm: LlmSettings | None = None
) -> tuple[list[float], int, float, int]:
    """(timings ms, answered, baseline tool p50 ms, LLM prose shown)."""
    with bootstrap(settings) as services:
        runner = services.agents()
        if llm is not None:
            runner.llm = llm
        async with runner.connected():
            tool = []
            for _ in range(20):
                started = time.perf_counter()
                await runner.toolbox.call(
                    "postgresql", "analyze_experiment_data", {"experiment_id": "checkout-cta-contrast"}
                )
                tool.append((time.perf_counter() - started) * 1000)
            for question in ASKED[:10]:
                await runner.ask(question)  # warm-up
            timings, answered, shown = [], 0, 0
            for _ in range(rounds):
                for question in ASKED:
                    started = time.perf_counter()
                    state = await runner.ask(question)
                    timings.append((time.perf_counter() - started) * 1000)
                    answered += bool(state.get("answered"))
                    shown += bool((state.get("verification") or {}).get("ok"))
    return timings, answered, percentile(tool, 0.5), shown


def through_serve(url: str, rounds: int) -> tuple[list[float], int]:
    timings, answered = [], 0
    with httpx.Client(base_url=url, timeout=120) as http:
        for question in ASKED[:10]:
            http.post("/api/ask", json={"question": question})
        for _ in range(rounds):
            for question in ASKED:
                started = time.perf_counter()
                body = http.post("/api/ask", json={"question": question}).json()
                timings.append((time.perf_counter() - started) * 1000)
                answered += bool(body.get("answered"))
    return timings, answered


def cold_cli(data_dir: Path, runs: int, *command: str) -> list[float]:
    """``neonblue <command>`` from a fresh interpreter (default: ask the cold question)."""
    command = command or ("ask", "--new", COLD_QUESTION)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "infrastructure.cli", *command],
            env=env_for(data_dir), cwd=data_dir, capture_output=True, text=True,
        )  # fmt: skip
        timings.append((time.perf_counter() - started) * 1000)
        assert done.returncode == 0 and "checkout-cta-contrast" in done.stdout, done.stderr
    return timings


def row(label: str, timings: list[float], answered: int | None, baseline: float, goal: str) -> None:
    p50, p95 = percentile(timings, 0.5), percentile(timings, 0.95)
    share = f"{answered}/{len(timings)}" if answered is not None else "-"
    print(f"{label:<44}{share:>9}{p50:>9.1f}{p95:>9.1f}{p50 / baseline:>8.1f}x  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cli-runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = EventStoreSettings(data_dir=Path(tmp), event_store="")
        build_portfolio(settings.data_dir, args.users)
        local, answered, baseline, _ = anyio.run(in_process, settings, args.rounds)
        with running_stub("honest") as (url, _):
            llm = LlmSettings(base_url=url, api_key="bench")
            llm_timings, llm_answered, _, shown = anyio.run(in_process, settings, args.rounds, llm)
        alone = cold_cli(settings.data_dir, args.cli_runs)
        listing = cold_cli(settings.data_dir, args.cli_runs, "experiments", "list")
        with serving(settings.data_dir) as url:
            served, served_answered = through_serve(url, args.rounds)
            with_serve = cold_cli(settings.data_dir, args.cli_runs)
    print(f"{len(ASKED)} questions x {args.rounds} round(s); baseline: one in-process "
          f"analyze_experiment_data call, p50 {baseline:.1f} ms")  # fmt: skip
    print(f"{'mode':<44}{'answered':>9}{'p50 ms':>9}{'p95 ms':>9}{'ratio':>9}  goal")
    row("deterministic, in-process", local, answered, baseline, "")
    row("deterministic, through serve (/api/ask)", served, served_answered, baseline, "p95 <= 300")
    row("LLM (stub), in-process", llm_timings, llm_answered, baseline, "")
    print(f"{'':<44}LLM prose shown (verified): {shown}/{llm_answered}")
    row("neonblue ask, cold CLI, no serve", alone, None, baseline, "<= 5000")
    cli_base = percentile(listing, 0.5)
    print(f"{'':<44}vs `neonblue experiments list` cold, same run: p50 {cli_base:.0f} ms, "
          f"{percentile(alone, 0.5) / cli_base:.1f}x")  # fmt: skip
    row("neonblue ask, cold CLI, serve running", with_serve, None, baseline, "")


if __name__ == "__main__":
    main()
