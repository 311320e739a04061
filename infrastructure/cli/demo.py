"""`neonblue demo`: a realistic portfolio, simulated users, results, on the embedded default."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.cli.console import console
from infrastructure.log_statistics import variant_totals
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO, PlannedExperiment, simulate_traffic

BATCH = 2000


def demo(
    users: Annotated[int, typer.Option(help="Simulated users per experiment.")] = 4000,
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
    totals = variant_totals(app)
    table = Table(title="Portfolio results (from the event log)")
    for column in ("experiment", "status", "variant", "users", "conversion", "lift", "true lift"):
        table.add_column(
            column, justify="left" if column in ("experiment", "variant", "status") else "right"
        )
    for plan in PORTFOLIO:
        experiment = app.experiment(plan.key)
        by_variant = totals.get(plan.key, {})
        control_key = plan.variants[0].key
        control = by_variant.get(control_key)
        control_rate = (
            control.sums["conversion"] / control.users if control and control.users else 0
        )
        for i, variant in enumerate(plan.variants):
            stats = by_variant.get(variant.key)
            if stats is None or stats.users == 0:
                continue
            rate = stats.sums["conversion"] / stats.users
            lift = "" if i == 0 or not control_rate else f"{rate / control_rate - 1:+.1%}"
            true = "" if i == 0 else f"{plan.true_lift(variant.key):+.1%}"
            table.add_row(
                plan.key if i == 0 else "",
                str(experiment.status) if i == 0 else "",
                variant.key,
                f"{stats.users:,}",
                f"{rate:.2%}",
                lift,
                true,
            )
        table.add_section()
    console.print(table)
