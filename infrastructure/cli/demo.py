"""`neonblue demo`: a realistic portfolio, simulated users, results, on the embedded default."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from domain.analysis import MetricRow, build_scorecard
from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.cli.console import console
from infrastructure.log_statistics import variant_sums
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO, PlannedExperiment, simulate_traffic

BATCH = 2000


def demo(
    users: Annotated[int, typer.Option(help="Simulated users per experiment.")] = 10_000,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo's event store lives (reset each run).")
    ] = Path(".neonblue/demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 7,
) -> None:
    """Create a portfolio of experiments, simulate users with known effects, show results."""
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = EventStoreSettings(data_dir=data_dir, event_store="")
    app = build_app(settings)
    started = time.perf_counter()
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=14)
        recorded = _run_portfolio(app, users, start, seed)
        elapsed = time.perf_counter() - started
        console.print(
            f"Recorded {recorded:,} events in {elapsed:.1f}s "
            f"({recorded / elapsed:,.0f} events/s) into {settings.eventsourcing_env()['SQLITE_DBNAME']}."
        )
        _print_results(app)
        anyio.run(_agents, settings, app)
    finally:
        app.close()
    console.print(
        f"\nExplore it: NEONBLUE_DATA_DIR={data_dir} neonblue experiments list | "
        "experiments show KEY | events log --experiment KEY | assign KEY USER"
    )


def _run_portfolio(app: NeonBlue, users: int, start: datetime, seed: int) -> int:
    recorded = 0
    with Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        for index, plan in enumerate(PORTFOLIO):
            _create(app, plan, start)
            task = progress.add_task(plan.key, total=users)
            commands = simulate_traffic(plan, app.experiment(plan.key), users, start, seed + index)
            while batch := list(islice(commands, BATCH)):
                outcome = app.record(batch)
                recorded += outcome.recorded
                progress.update(task, completed=int(batch[-1].user_id.rsplit("-", 1)[-1]) + 1)
            progress.update(task, completed=users)
    app.stop_experiment("homepage-hero-video", reason="guardrail: page load time regressed")
    return recorded


def _create(app: NeonBlue, plan: PlannedExperiment, start: datetime) -> None:
    app.create_experiment(
        plan.key,
        plan.name,
        hypothesis=plan.hypothesis,
        description=plan.description,
        tags=plan.tags,
        owner=plan.owner,
        variants=plan.variants,
        metrics=plan.metrics,
    )
    app.start_experiment(plan.key, at=start)


def _print_results(app: NeonBlue) -> None:
    """One compact table per experiment: every metric x treatment against control."""
    sums = variant_sums(app)
    console.print("\n[bold]Results, computed from the event log[/] (Holm-adjusted p-values)")
    for plan in PORTFOLIO:
        experiment = app.experiment(plan.key)
        card = build_scorecard(experiment, sums.get(plan.key, {}))
        srm = "[red]sample ratio mismatch[/]" if card.srm.mismatch else "no SRM"
        table = Table(
            title=f"[bold]{plan.key}[/] ({experiment.status}, {card.total_users:,} users, {srm})",
            title_justify="left",
        )
        for column in (
            "variant",
            "metric",
            "control -> variant",
            "lift [95% CI]",
            "p",
            "verdict",
            "truth",
        ):
            table.add_column(column, no_wrap=True)
        for row in card.rows:
            truth = f"{plan.true_lift(row.variant):+.1%}" if row.metric == "conversion" else ""
            table.add_row(
                row.variant,
                row.metric,
                f"{_number(row.control_mean)} -> {_number(row.variant_mean)}",
                f"{row.lift:+.1%} [{row.ci_lower:+.1%}, {row.ci_upper:+.1%}]",
                "" if row.adjusted_p_value is None else f"{row.adjusted_p_value:.3f}",
                _verdict(row),
                truth,
            )
        console.print(table)


DEMO_QUESTIONS = (
    "Which experiments are running?",
    "How is the mobile onboarding checklist doing?",
    "Which variant does user u-42 get in free-shipping-threshold?",
)


async def _agents(settings: EventStoreSettings, app: NeonBlue) -> None:
    """Agent answers and recommendations, through the MCP servers like any MCP client."""
    from agents.analytics.runner import ask_with
    from agents.common.servers import stdio_servers
    from agents.common.toolbox import McpToolbox
    from agents.intelligence.runner import recommend_with
    from infrastructure.bootstrap import Services

    services = Services(event_store=settings, app=app)
    console.print("\n[bold]Agents[/] (deterministic mode; set NEONBLUE_LLM_BASE_URL for an LLM)")
    async with McpToolbox(stdio_servers(settings)) as toolbox:
        for question in DEMO_QUESTIONS:
            state = await ask_with(services, toolbox, question)
            console.print(f"[cyan]Q:[/] {question}\n[green]A:[/] {state['answer']}")
        table = Table("experiment", "recommendation", "why", title="Recommendations")
        for plan in PORTFOLIO:
            state = await recommend_with(services, toolbox, plan.key)
            proposal = state["proposal"]
            action = proposal["action"] + (
                " (awaits approval)" if state["waiting_for_approval"] else ""
            )
            table.add_row(plan.key, action, proposal["reasons"][0].split(". ")[0] + ".")
        console.print(table)
    console.print(
        "Pending approvals: neonblue approvals list (with NEONBLUE_DATA_DIR set as below)."
    )


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def _verdict(row: MetricRow) -> str:
    if row.error:
        return f"[yellow]{row.error}[/]"
    if row.guardrail is not None:
        colour = {"pass": "green", "fail": "red"}.get(row.guardrail.status, "yellow")
        return f"[{colour}]guardrail {row.guardrail.status}[/]"
    return {"better": "[green]better[/]", "worse": "[red]worse[/]"}.get(row.direction, "flat")
