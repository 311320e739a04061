"""`neonblue projections status|run|rebuild|gc` and `neonblue results EXPERIMENT`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from infrastructure.cli.console import (
    chosen_engine,
    console,
    read_side,
    services,
    shown,
    working,
)
from infrastructure.cli.tables import WholeTable
from infrastructure.read_side import dumps
from projections.runner import DEFAULT_BATCH

app = typer.Typer(help="Read models built from the event log.", no_args_is_help=True)


@app.command("status")
def status(
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON object per projection (with its generations)."),
    ] = False,
) -> None:
    """Position, log head and lag (events and seconds) of every projection, and each read
    model's generations (live, being built, leftovers) with their sizes."""
    generations: list[dict[str, object]] | None = None
    with read_side() as side:
        statuses = side.projections()
        local = getattr(side, "services", None)
        if local is not None:
            generations = [g.as_dict() for g in local.read_models().generations()]
    if as_json:
        if generations is not None:  # each projection's generations beside its position
            for st in statuses:
                st["generations"] = [g for g in generations if g["model"] == st["name"]]
        print(dumps(statuses))
        return
    table = Table("projection", "position", "head", "lag (events)", "lag (s)")
    for st in statuses:
        table.add_row(
            st["name"],
            f"{st['position']:,}",
            f"{st['head']:,}",
            f"{st['lag_events']:,}",
            f"{st['lag_seconds']:.1f}",
        )
    console.print(table)
    if generations is None:
        console.print(
            "Generations: listed by `neonblue projections status` while serve is stopped."
        )
        return
    _print_generations(generations)


def _print_generations(generations: list[dict[str, object]]) -> None:
    table = Table("model", "generation", "state", "size", "built by")
    for g in generations:
        state = f"[yellow]{g['state']} (leftover)[/]" if g["leftover"] else str(g["state"])
        table.add_row(
            str(g["model"]), str(g["name"]), state, _size(int(g["size_bytes"])), str(g["owner"])
        )
    console.print(table)
    leftovers = [g for g in generations if g["leftover"]]
    if leftovers:
        total = _size(sum(int(g["size_bytes"]) for g in leftovers))
        console.print(
            f"{len(leftovers)} leftover(s), {total}: `neonblue projections gc` removes them."
        )


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1024:
            return f"{value:,.0f} B" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


@app.command("gc")
def gc(
    names: Annotated[
        list[str] | None, typer.Argument(help="Read models to clean (default: all).")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(help="Also remove copies being built (a rebuild still running elsewhere)."),
    ] = False,
) -> None:
    """Remove leftovers: previous generations and partial copies of killed rebuilds."""
    with _not_while_serving("collect leftovers"), services() as s:
        removed = s.read_models().collect(names, force)
    if not removed:
        console.print("No leftovers.")
        return
    for g in removed:
        console.print(f"removed {g.model} {g.name} ({g.state}, {_size(g.size_bytes)})")


@app.command("run")
def run(
    names: Annotated[
        list[str] | None, typer.Argument(help="Projections to run (default: all).")
    ] = None,
    until_caught_up: Annotated[
        bool, typer.Option(help="Stop once every projection has reached the head.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Events per batch.", min=1)] = DEFAULT_BATCH,
) -> None:
    """Follow the log continuously (Ctrl-C stops; killing it loses nothing)."""
    with _not_while_serving("follow the log"), services() as s:
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
    batch_size: Annotated[int, typer.Option(help="Events per batch.", min=1)] = DEFAULT_BATCH,
) -> None:
    """Build a fresh copy from position 0, switch to it atomically, drop the old one
    (and leftovers of earlier rebuilds)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from projections.rebuild import rebuild as rebuild_model
    from projections.runner import RateMeter

    with _not_while_serving(f"rebuild {name}"), services() as s:
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
        models.switched(name)
    console.print(f"{name}: rebuilt {result.events:,} events up to position {result.position:,}.")
    if result.verified:
        if result.differences:
            for table, (old, new) in result.differences.items():
                console.print(f"[yellow]differs[/] {table}: old {old} new {new}")
        else:
            console.print("verified: old and new read models are identical.")


@contextmanager
def _not_while_serving(action: str) -> Iterator[None]:
    """serve owns the read models (the embedded ones admit one process). The data
    directory's lock is held (shared) for the whole command, so no serve starts meanwhile."""
    from infrastructure.cli.console import running_serve
    from infrastructure.serve.discovery import holder, share_data_dir
    from infrastructure.settings import ConfigurationError, EventStoreSettings

    address = running_serve()
    if address is not None:
        raise ConfigurationError(
            f"`neonblue serve` at {address.url} owns these read models and follows the log; "
            f"stop it (Ctrl-C or SIGTERM) to {action} here."
        )
    data_dir = EventStoreSettings().data_dir
    held = share_data_dir(data_dir)
    if held is None:
        raise ConfigurationError(
            f"`neonblue serve` {holder(data_dir) or 'is starting'} for {data_dir} and will own "
            f"these read models; stop it to {action} here."
        )
    try:
        yield
    finally:
        held.close()


def results(
    experiment: Annotated[str, typer.Argument(help="Experiment key.")],
    engine: Annotated[
        str | None,
        typer.Option(
            help="frequentist, sequential or bayesian (default: NEONBLUE_STATS_ENGINE when set"
            " here, else the default of a running serve, else sequential)."
        ),
    ] = None,
    cuped: Annotated[bool, typer.Option(help="Use pre-exposure covariates (CUPED).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The full analysis of an experiment over the ClickHouse read model (through a running
    `neonblue serve` when there is one; otherwise caught up to the log head first)."""
    from infrastructure.read_side import ENGINES, lag_notice, scorecard_of

    if engine is not None and engine not in ENGINES:
        raise typer.BadParameter("engine must be frequentist, sequential or bayesian")
    engine = chosen_engine(engine)  # the user's choice is passed to serve too
    with read_side() as side, working("Analysing from the analytics model...", as_json):
        answer = side.results(experiment, engine, cuped)
    if as_json:
        print(dumps(answer["scorecard"]))
        return
    from infrastructure.cli.scorecards import scorecard_table

    console.print(scorecard_table(scorecard_of(answer)))
    notice = lag_notice(answer)
    if notice:
        console.print(f"[yellow]{shown(notice)}[/yellow]")


def segments(
    experiment: Annotated[str, typer.Argument(help="Experiment key.")],
    by: Annotated[
        str | None,
        typer.Option("--by", help="One segment dimension, e.g. device (default: every one)."),
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="A metric of the experiment (default: the primary).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Lift per segment (device, country, ...): each segment analysed on its own, as the
    scorecard analyses the metric, with q-values across the rows (through a running
    `neonblue serve` when there is one)."""

    with read_side() as side, working("Analysing each segment...", as_json):
        answer = side.segments(experiment, by, metric)
    if as_json:
        print(dumps(answer))
        return
    rows = answer["segments"]
    if not rows:
        console.print(
            f"No segment rows for {shown(experiment)} yet (no exposed users with a segment)."
        )
        return
    console.print(segment_table(experiment, rows))


def segment_table(experiment: str, rows: list[dict[str, Any]]) -> WholeTable:
    """Segment rows (``segment_breakdown``'s) as a table whose segments and variants are never
    cut; every cell is shown as text (a segment value is whatever a producer sent)."""
    first = rows[0]
    table = Table(
        title=f"{shown(first['metric'])} per segment of {shown(experiment)} "
        f"({shown(first['statistic'])}, frequentist, each segment on its own)",
        caption=f"q: p-value adjusted across the {len(rows)} rows (Benjamini-Hochberg); * q < 0.05",
    )
    numbers = ("users", "control → variant", "lift", "95% CI", "q")
    for header in ("segment", "variant", *numbers):
        table.add_column(header, justify="right" if header in numbers else "left")
    for row in rows:
        q = row["q_value"]
        cells = (
            f"{row['dimension']}={row['segment']}",
            row["variant"],
            f"{row['users']:,}",
            f"{_value(row['control_mean'])} → {_value(row['variant_mean'])}",
            _percent(row["relative_lift"]),
            f"[{_percent(row['ci_lower'])}, {_percent(row['ci_upper'])}]",
            "-" if q is None else f"{q:.2g}{' *' if row['significant'] else ''}",
        )
        table.add_row(*map(shown, cells))
    return WholeTable(table, ("segment", "variant"))


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:,.4g}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"
