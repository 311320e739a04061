"""Natural-language analytics: answered/total and latency over the public evaluation set.

Deterministic mode in this process (in-memory MCP transport) and through a running
`neonblue serve` (POST /api/ask, what the CLI and the dashboard call), with serve's answer
cache on (the default) and off (``NEONBLUE_MCP_ANSWER_CACHE_SECONDS=0``: every tool answer
computed); LLM mode against the local OpenAI-compatible stub (planning + prose +
verification, two model calls a question); and `neonblue ask` from a cold CLI with and
without serve. Baselines measured in the same run: one `analyze_experiment_data` call
in-process (the ratio column), and for the cold CLI `python -c pass` and `neonblue
experiments list` (reads the event store, no read model) started the same way. Through serve it also prints the CPU serve spent per question (from
/proc), which a machine shared with other work disturbs far less than wall time.

    python bench/nl.py [--users 1500] [--rounds 1] [--cli-runs 3]

The cold CLI runs ``sys.executable -m infrastructure.cli`` from the data directory: run
the benchmark with a virtual environment's python holding a non-editable install to time
what a user's shell does.
"""

from __future__ import annotations

import argparse
import os
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
from bench.serving import percentile
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings
from tests.agents.test_nl_eval import QUESTIONS
from tests.support.openai_stub import running_stub
from tests.support.portfolio import build_portfolio
from tests.support.serve import env_for, running_serve

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
                    "postgresql",
                    "analyze_experiment_data",
                    {"experiment_id": "checkout-cta-contrast"},
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


def through_serve(data_dir: Path, rounds: int, **env: str) -> tuple[list[float], int, float]:
    """(timings ms, answered, serve CPU ms per question) of a fresh serve."""
    with running_serve(env_for(data_dir, **env), data_dir) as serve:
        serve.wait_caught_up(600)
        timings, answered = [], 0
        with httpx.Client(base_url=serve.url, timeout=120) as http:
            http.post("/api/ask", json={"question": "Which experiments are running?"})  # warm-up
            cpu = _cpu_seconds(serve.process.pid)
            for _ in range(rounds):
                for question in ASKED:
                    started = time.perf_counter()
                    body = http.post("/api/ask", json={"question": question}).json()
                    timings.append((time.perf_counter() - started) * 1000)
                    answered += bool(body.get("answered"))
            cpu = _cpu_seconds(serve.process.pid) - cpu
        serve.stop()
    return timings, answered, cpu * 1000 / len(timings)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_cli(data_dir: Path, runs: int, *command: str) -> list[float]:
    """``neonblue <command>`` from a fresh interpreter (default: ask the cold question);
    ``("-c", "pass")`` times the bare interpreter."""
    command = command or ("-m", "infrastructure.cli", "ask", "--new", COLD_QUESTION)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *command],
            env=env_for(data_dir), cwd=data_dir, capture_output=True, text=True,
        )  # fmt: skip
        timings.append((time.perf_counter() - started) * 1000)
        assert done.returncode == 0, done.stderr
        assert "ask" not in command or "checkout-cta-contrast" in done.stdout, done.stdout
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
        # the cold CLI and its baselines alternate, so a load change hits them alike
        alone, interpreter, listed = [], [], []
        for _ in range(args.cli_runs):
            alone += cold_cli(settings.data_dir, 1)
            interpreter += cold_cli(settings.data_dir, 1, "-c", "pass")
            listed += cold_cli(
                settings.data_dir, 1, "-m", "infrastructure.cli", "experiments", "list"
            )
        uncached = through_serve(
            settings.data_dir, args.rounds, NEONBLUE_MCP_ANSWER_CACHE_SECONDS="0"
        )
        served = through_serve(settings.data_dir, args.rounds)
        with running_serve(env_for(settings.data_dir), settings.data_dir) as serve:
            serve.wait_caught_up(600)
            with_serve = cold_cli(settings.data_dir, args.cli_runs)
            serve.stop()
    print(f"{len(ASKED)} questions x {args.rounds} round(s); baseline: one in-process "
          f"analyze_experiment_data call, p50 {baseline:.1f} ms")  # fmt: skip
    print(f"{'mode':<44}{'answered':>9}{'p50 ms':>9}{'p95 ms':>9}{'ratio':>9}  goal")
    row("deterministic, in-process", local, answered, baseline, "")
    for label, (timings, done, cpu) in (
        ("deterministic, through serve (/api/ask)", served),
        ("  the same, serve's answer cache off", uncached),
    ):
        row(label, timings, done, baseline, "p95 <= 300" if timings is served[0] else "")
        print(f"{'':<44}serve CPU per question: {cpu:.0f} ms")
    row("LLM (stub), in-process", llm_timings, llm_answered, baseline, "")
    print(f"{'':<44}LLM prose shown (verified): {shown}/{llm_answered}")
    row("neonblue ask, cold CLI, no serve", alone, None, baseline, "<= 5000")
    ask, bare, listing = (percentile(t, 0.5) for t in (alone, interpreter, listed))
    print(f"{'':<44}same run, cold: `python -c pass` p50 {bare:.0f} ms, `neonblue experiments "
          f"list` p50 {listing:.0f} ms; ask is {ask / listing:.1f}x the listing")  # fmt: skip
    row("neonblue ask, cold CLI, serve running", with_serve, None, baseline, "")


if __name__ == "__main__":
    main()
