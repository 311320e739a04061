"""`neonblue projections status|run|rebuild` and `neonblue results EXPERIMENT`."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from domain.statistics import AnalysisOptions
from infrastructure.cli.console import console, services
from infrastructure.cli.scorecards import scorecard_table
from projections.rebuild import rebuild as rebuild_model
from projections.runner import DEFAULT_BATCH, RateMeter

app = typer.Typer(help="Read models built from the event log.", no_args_is_help=True)


@app.command("status")
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per projection.")
    ] = False,
) -> None:
    """Position, log head and lag (events and seconds) of every projection."""
    with services() as s:
        statuses = s.read_models().status()
    if as_json:
        print(json.dumps([st.as_dict() for st in statuses]))
        return
    table = Table("projection", "position", "head", "lag (events)", "lag (s)")
    for st in statuses:
        table.add_row(
            st.name,
            f"{st.position:,}",
            f"{st.head:,}",
            f"{st.lag_events:,}",
            f"{st.lag_seconds:.1f}",
        )
    console.print(table)


@app.command("run")
def run(
    names: Annotated[
        list[str] | None, typer.Argument(help="Projections to run (default: all).")
    ] = None,
    until_caught_up: Annotated[
        bool, typer.Option(help="Stop once every projection has reached the head.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Events per batch.")] = DEFAULT_BATCH,
) -> None:
    """Follow the log continuously (Ctrl-C stops; killing it loses nothing)."""
    with services() as s:
        models = s.read_models()
        chosen = names or models.names
        runners = [models.runner(name, batch_size) for name in chosen]
        stop = threading.Event()
        console.print(f"Following the log for {', '.join(chosen)} (Ctrl-C to stop).")
        try:
            while not stop.is_set():
                advanced = sum(runner.run_batch() for runner in runners)
                if advanced == 0:
                    if until_caught_up:
                        break
                    stop.wait(0.2)
        except KeyboardInterrupt:
            pass
        for runner in runners:
            console.print(f"{runner.projection.name}: position {runner.projection.position():,}")


@app.command("rebuild")
def rebuild(
    name: Annotated[str, typer.Argument(help="The projection to rebuild.")],
    verify: Annotated[
        bool, typer.Option(help="Compare old and new checksums before switching.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Events per batch.")] = DEFAULT_BATCH,
) -> None:
    """Build a fresh copy from position 0, switch to it atomically, drop the old one."""
    with services() as s:
        models = s.read_models()
        model = models.model(name)
        meter = RateMeter(0)
        console.print(f"Rebuilding {name} from position 0 (log head {models.reader.head():,}).")
        with Progress(
            TextColumn(f"rebuilding {name}"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} events"),
            TextColumn("{task.fields[rate]:,.0f} ev/s"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(name, total=models.reader.head(), rate=0.0)

            def report(position: int, head: int) -> None:
                progress.update(task, completed=position, total=head, rate=meter.rate(position))

            result = rebuild_model(models.reader, model, batch_size, verify, report)
    console.print(f"{name}: rebuilt {result.events:,} events up to position {result.position:,}.")
    if result.verified:
        if result.differences:
            for table, (old, new) in result.differences.items():
                console.print(f"[yellow]differs[/] {table}: old {old} new {new}")
        else:
            console.print("verified: old and new read models are identical.")


def results(
    experiment: Annotated[str, typer.Argument(help="Experiment key.")],
    engine: Annotated[
        str, typer.Option(help="frequentist, sequential or bayesian.")
    ] = "frequentist",
    cuped: Annotated[bool, typer.Option(help="Use pre-exposure covariates (CUPED).")] = True,
    catch_up: Annotated[
        bool, typer.Option(help="Bring the analytics model up to the log head first.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The full analysis of an experiment over the ClickHouse read model."""
    if engine not in ("frequentist", "sequential", "bayesian"):
        raise typer.BadParameter("engine must be frequentist, sequential or bayesian")
    with services() as s:
        definition = s.app.experiment(experiment)
        models = s.read_models()
        if catch_up:
            models.runner("analytics").catch_up()
        card = models.analytics().scorecard(
            definition,
            AnalysisOptions(engine=engine),
            cuped=cuped,  # type: ignore[arg-type]
            as_of=datetime.now(UTC),
        )
    if as_json:
        print(json.dumps(_as_dict(card), default=str))
        return
    console.print(scorecard_table(card))


def _as_dict(card: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(card)  # type: ignore[call-overload]
