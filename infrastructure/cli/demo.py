"""`neonblue demo`: the whole path on the embedded default, with a realistic portfolio.

Simulated wire events -> ingest (in-process bus) -> event store (SQLite) -> projections
(chDB, SQL, Chroma) -> results and semantic search -> agents over the MCP servers.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from domain.statistics import AnalysisOptions
from infrastructure.application import NeonBlue
from infrastructure.bootstrap import Services, bootstrap
from infrastructure.cli.console import console
from infrastructure.cli.scorecards import scorecard_table
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO


def demo(
    users: Annotated[int, typer.Option(help="Simulated users per experiment.")] = 8_000,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo's stores live (reset each run).")
    ] = Path(".neonblue/demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 7,
    agents: Annotated[
        bool, typer.Option(help="End with agent answers and recommendations.")
    ] = True,
) -> None:
    """Simulate a portfolio end to end: ingest, event store, read models, results, agents."""
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = EventStoreSettings(data_dir=data_dir, event_store="")
    services = bootstrap(settings)
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=14)
        _ingest(services.app, users, start, seed)
        _project(services)
        _print_results(services)
        _search_example(services)
        if agents:
            anyio.run(_agents, services)
    finally:
        services.close()
    console.print(
        f"\nExplore it: NEONBLUE_DATA_DIR={settings.data_dir} neonblue experiments list | results KEY | "
        'ask "which experiments are running?" | recommend KEY | projections status | audit verify'
    )


def _ingest(app: NeonBlue, users: int, start: datetime, seed: int) -> None:
    """Publishes the simulated wire events on the in-process bus and ingests them."""
    from infrastructure.ingest.bus import InProcessBus
    from infrastructure.ingest.runtime import ingest_in_process
    from infrastructure.ingest.simulate import TrafficPlan, ensure_experiments, publish, wire_events

    plan = TrafficPlan(experiments=len(PORTFOLIO), users=users, seed=seed)
    ensure_experiments(app, PORTFOLIO, start)
    bus = InProcessBus()
    started = time.perf_counter()
    published = publish(bus.producer(), wire_events(plan, start))
    with _progress() as progress:
        task = progress.add_task("ingest (in-process bus)", total=published)
        stats = ingest_in_process(
            app, bus, on_progress=lambda s: progress.update(task, completed=s.consumed)
        )
    app.stop_experiment("homepage-hero-video", reason="guardrail: page load time regressed")
    elapsed = time.perf_counter() - started
    console.print(
        f"Ingested {stats.consumed:,} wire events -> {stats.stored_events:,} stored events in "
        f"{elapsed:.1f}s ({stats.consumed / elapsed:,.0f} events/s; {stats.duplicates} "
        f"duplicates, {stats.dead_lettered} dead letters)."
    )


def _project(services: Services) -> None:
    models = services.read_models()
    with _progress() as progress:
        for name in models.names:
            runner = models.runner(name)
            status = runner.status()
            total = max(status.lag_events, 1)
            task = progress.add_task(f"projection {name}", total=total)
            runner.catch_up(
                progress=lambda done, _, t=task, b=status.position: progress.update(
                    t, completed=done - b
                )
            )
            progress.update(task, completed=total)
    positions = ", ".join(f"{s.name} at {s.position:,}" for s in models.status())
    console.print(f"Read models caught up: {positions} (log head {services.app.head():,}).")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _print_results(services: Services) -> None:
    """One compact table per experiment, from the ClickHouse read model (chDB)."""
    analytics = services.read_models().analytics()
    console.print("\n[bold]Results from the analytics read model[/] (Holm-adjusted)")
    for plan in PORTFOLIO:
        experiment = services.app.experiment(plan.key)
        card = analytics.scorecard(experiment, AnalysisOptions(engine="sequential"))
        console.print(
            scorecard_table(
                card,
                f"[bold]{plan.key}[/] {experiment.status}",
                lambda row, p=plan: (
                    f"{p.true_lift(row.variant):+.1%}" if row.metric == "conversion" else ""
                ),
            )
        )


def _search_example(services: Services) -> None:
    query = "make the order button easier to see"
    hits = services.read_models().model("knowledge").search(query, limit=3)
    found = ", ".join(f"{h.key} ({h.distance:.2f})" for h in hits)
    console.print(f"\nSemantic search [italic]{query!r}[/]: {found}")


DEMO_QUESTIONS = (
    "Which experiments are running?",
    "How is the mobile onboarding checklist doing?",
    "Which variant does user u-42 get in free-shipping-threshold?",
)


async def _agents(services: Services) -> None:
    """Agent answers and recommendations, through the MCP servers like any MCP client
    (in this process, over the SDK's in-memory transport)."""
    console.print("\n[bold]Agents[/] (deterministic mode; set NEONBLUE_LLM_BASE_URL for an LLM)")
    runner = services.agents()
    async with runner.connected():
        for question in DEMO_QUESTIONS:
            state = await runner.ask(question)
            console.print(f"[cyan]Q:[/] {question}\n[green]A:[/] {state['answer']}")
        table = Table("experiment", "recommendation", "why", title="Recommendations")
        for plan in PORTFOLIO:
            state = await runner.recommend(plan.key)
            proposal = state["proposal"]
            action = proposal["action"] + (
                " (awaits approval)" if state["waiting_for_approval"] else ""
            )
            table.add_row(plan.key, action, proposal["reasons"][0].split(". ")[0] + ".")
        console.print(table)
    console.print(
        "Pending approvals: neonblue approvals list (with NEONBLUE_DATA_DIR set as below)."
    )
