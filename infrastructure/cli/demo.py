"""`neonblue demo`: the whole path on the embedded default, with a realistic portfolio.

Simulated wire events -> ingest (in-process bus) -> event store (SQLite) -> projections
(chDB, SQL, Chroma) -> results and semantic search -> agents over the MCP servers.

Every planted truth is decisive (a winner, a sample ratio mismatch, a flat test, a harmful
guardrail, a three-arm test for the bandit), and every verdict is printed next to it. Every
stage shows progress: a bar where the amount of work is known, a spinner where it is not.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from domain.analysis import MetricRow, Scorecard
from domain.statistics import AnalysisOptions
from infrastructure.application import NeonBlue
from infrastructure.bootstrap import Services, bootstrap
from infrastructure.cli.console import console, shown
from infrastructure.cli.scorecards import scorecard_table, verdict
from infrastructure.cli.tables import keep_whole
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO, PlannedExperiment

HARMFUL = "homepage-hero-video"  # its stop recommendation is approved in the demo
BANDIT = "free-shipping-threshold"  # opted in to Thompson reallocation in the demo
SESSIONS = 1.5  # mean visits (exposures) per user


def demo(
    users: Annotated[
        int, typer.Option(help="Simulated users per experiment (scaled by its traffic share).")
    ] = 8_000,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo's stores live (reset each run).")
    ] = Path(".neonblue/demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 7,
    agents: Annotated[
        bool, typer.Option(help="End with agent answers and recommendations.")
    ] = True,
) -> None:
    """Simulate a portfolio end to end: ingest, event store, read models, results, agents."""
    began = time.perf_counter()
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = EventStoreSettings(data_dir=data_dir, event_store="")
    with console.status("Opening the event store"):
        services = bootstrap(settings)
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=14)
        _ingest(services.app, users, start, seed)
        _project(services)
        cards = _print_results(services)
        _search_example(services)
        actions: dict[str, str] = {}
        if agents:
            actions = anyio.run(_agents, services)
        _summary(cards, actions)
    finally:
        services.close()
    console.print(
        f"\nDemo finished in {time.perf_counter() - began:.0f} s. Explore it: "
        f"NEONBLUE_DATA_DIR={shown(settings.data_dir)} neonblue experiments list | results KEY | "
        'ask "which experiments are running?" | recommend KEY | approvals list | audit verify'
    )


def _progress(*columns: Any) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<34}"),
        *columns,
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _counted(items: Iterator[Any], tick: Callable[[int], None], every: int = 2000) -> Iterator[Any]:
    count = 0
    for count, item in enumerate(items, 1):
        if count % every == 0:
            tick(count)
        yield item
    tick(count)


def _ingest(app: NeonBlue, users: int, start: datetime, seed: int) -> None:
    """Publishes the simulated wire events on the in-process bus and ingests them."""
    from infrastructure.ingest.bus import InProcessBus
    from infrastructure.ingest.runtime import ingest_in_process
    from infrastructure.ingest.simulate import TrafficPlan, ensure_experiments, publish, wire_events

    plan = TrafficPlan(experiments=len(PORTFOLIO), users=users, seed=seed, sessions=SESSIONS)
    with console.status("Creating and starting the portfolio's experiments"):
        ensure_experiments(app, PORTFOLIO, start)
    bus = InProcessBus()
    with _progress(TextColumn("{task.completed:>9,.0f} wire events")) as progress:
        task = progress.add_task("simulate users, publish on the bus", total=None)
        events = _counted(wire_events(plan, start), lambda n: progress.update(task, completed=n))
        published = publish(bus.producer(), events)
    started = time.perf_counter()
    with _progress(BarColumn(), MofNCompleteColumn()) as progress:
        task = progress.add_task("ingest (in-process bus -> SQLite)", total=published)
        stats = ingest_in_process(
            app, bus, on_progress=lambda s: progress.update(task, completed=s.consumed)
        )
    elapsed = time.perf_counter() - started
    console.print(
        f"Ingested {stats.consumed:,} wire events -> {stats.stored_events:,} stored events in "
        f"{elapsed:.1f}s ({stats.consumed / elapsed:,.0f} events/s; {stats.duplicates} "
        f"duplicates, {stats.dead_lettered} dead letters)."
    )


def _project(services: Services) -> None:
    with console.status("Opening the read models (chDB, SQL, Chroma + embeddings)"):
        models = services.read_models()
        runners = {name: models.runner(name) for name in models.names}
    with _progress(BarColumn(), MofNCompleteColumn()) as progress:
        for name, runner in runners.items():
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


def _truth(plan: PlannedExperiment) -> Callable[[MetricRow], str]:
    def cell(row: MetricRow) -> str:
        effect = plan.true_effect(row.metric, row.variant)
        return "" if effect is None else ("none" if abs(effect) < 1e-9 else f"{effect:+.1%}")

    return cell


def _print_results(services: Services) -> dict[str, Scorecard]:
    """One table per experiment from the ClickHouse read model (chDB), next to the truth."""
    analytics = services.read_models().analytics()
    engine = services.engine
    console.print(
        f"\n[bold]Results from the analytics read model[/] ({engine} engine: "
        "NEONBLUE_STATS_ENGINE; p Holm-adjusted; 'truth' is the simulated effect)"
    )
    cards = {}
    for plan in PORTFOLIO:
        experiment = services.app.experiment(plan.key)
        with console.status(f"Analysing {plan.key}"):
            card = analytics.scorecard(experiment, AnalysisOptions(engine=engine))  # type: ignore[arg-type]
        cards[plan.key] = card
        console.print(
            scorecard_table(card, f"[bold]{plan.key}[/] {experiment.status}", _truth(plan))
        )
    return cards


def _search_example(services: Services) -> None:
    query = "make the order button easier to see"
    with console.status("Semantic search in the knowledge base (Chroma)"):
        hits = services.read_models().model("knowledge").search(query, limit=3)
    found = ", ".join(f"{h.key} (similarity {h.similarity:.2f})" for h in hits)
    console.print(f"\nSemantic search [italic]{query!r}[/]: {found}")


DEMO_QUESTIONS = (
    "Which experiments are running?",
    "How is the mobile onboarding checklist doing?",
    "Which variant does user u-42 get in free-shipping-threshold?",
)


async def _agents(services: Services) -> dict[str, str]:
    """Agent answers and recommendations, through the MCP servers like any MCP client
    (in this process, over the SDK's in-memory transport); returns each key's action."""
    from agents.intelligence.runner import resume_with_decision

    console.print("\n[bold]Agents[/] (deterministic mode; set NEONBLUE_LLM_BASE_URL for an LLM)")
    async with AsyncExitStack() as stack:
        with console.status("Starting the MCP servers and the agent graphs"):
            runner = services.agents()
            await stack.enter_async_context(runner.connected())
        for question in DEMO_QUESTIONS:
            with console.status(f"Asking: {question}"):
                state = await runner.ask(question)
            console.print(f"[cyan]Q:[/] {shown(question)}\n[green]A:[/] {shown(state['answer'])}")
        table = Table(
            "experiment",
            "simulated truth",
            "recommendation",
            "why",
            title="Recommendations (experiment-intelligence agent, recorded as events)",
        )
        actions: dict[str, str] = {}
        pending: dict[str, str] = {}
        for plan in PORTFOLIO:
            with console.status(f"Recommending for {plan.key}"):
                state = await runner.recommend(plan.key)
            proposal = state["proposal"]
            actions[plan.key] = proposal["action"]
            waiting = " (awaits approval)" if state["waiting_for_approval"] else ""
            if state["waiting_for_approval"]:
                pending[plan.key] = state["recommendation_id"]
            table.add_row(
                plan.key,
                plan.story,
                shown(
                    f"{proposal['action']}{' ' + proposal['variant'] if proposal['variant'] else ''}"
                )
                + waiting,
                shown(proposal["reasons"][0].split(". ")[0] + "."),
            )
        console.print(keep_whole(table, "experiment"))
        if actions.get(HARMFUL) == "stop" and HARMFUL in pending:
            with console.status(f"Approving the stop of {HARMFUL}"):
                done = await resume_with_decision(
                    services, pending[HARMFUL], True, "demo (as a person)", "guardrail harm"
                )
            status = services.app.experiment(HARMFUL).status
            actions[HARMFUL] = f"stop -> approved: {status} (rollback)"
            console.print(
                f"Approved the stop of [bold]{HARMFUL}[/] as a person would: "
                f"{shown(', '.join(done.get('applied', [])))} -> now {status}."
            )
        actions[BANDIT] = await _reallocate(services, runner.toolbox, actions.get(BANDIT, ""))
    console.print("Pending approvals: NEONBLUE_DATA_DIR=... neonblue approvals list")
    return actions


async def _reallocate(services: Services, toolbox: Any, action: str) -> str:
    """Opts the three-arm test in to Thompson-sampling reallocation and runs one step."""
    from agents.optimization.process import optimise_once
    from infrastructure.allocation_policies import set_policy

    before = {v.key: v.weight for v in services.app.experiment(BANDIT).variants}
    set_policy(
        services.app, BANDIT, auto_apply=True, min_share=0.1, max_step=0.2, by="demo (as a person)"
    )
    with console.status(f"Bandit: Thompson sampling over the arms of {BANDIT}"):
        outcomes = await optimise_once(services, toolbox)
    after = {v.key: v.weight for v in services.app.experiment(BANDIT).variants}
    outcome = next((o for o in outcomes if o.experiment_key == BANDIT), None)
    moved = ", ".join(f"{k} {before[k]:.0%} -> {after[k]:.0%}" for k in before)
    if outcome is None or outcome.outcome != "applied":
        detail = outcome.detail if outcome else "not opted in"
        console.print(f"Bandit on [bold]{BANDIT}[/]: no reallocation ({shown(detail)}).")
        return action
    console.print(f"Bandit on [bold]{BANDIT}[/] (allowed by its policy): traffic {moved}.")
    return f"{action}; reallocated" if action else "reallocated"


def _summary(cards: dict[str, Scorecard], actions: dict[str, str]) -> None:
    """One line per experiment: what was planted, what the platform found, what it advises."""
    table = Table(
        "experiment", "simulated truth", "primary verdict", "recommendation", title="Summary"
    )
    for plan in PORTFOLIO:
        card = cards[plan.key]
        found = "sample ratio mismatch" if card.srm.mismatch else ""
        failing = card.failing_guardrails()
        if failing:
            found = f"guardrail {failing[0].metric} fails"
        primary = ", ".join(
            f"{r.variant} {verdict(r)} {r.lift:+.1%}" for r in card.primary() if not r.error
        )
        table.add_row(
            plan.key,
            plan.story,
            "; ".join(x for x in (found, primary) if x),
            actions.get(plan.key, "(--no-agents)"),
        )
    console.print(keep_whole(table, "experiment"))
