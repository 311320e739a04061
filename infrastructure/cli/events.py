"""`neonblue events log`: the raw event log, paged, for auditors and operators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.table import Table

from domain.experiments.aggregate import experiment_id
from domain.participation.aggregate import Participation
from infrastructure.application import LoggedEvent, NeonBlue
from infrastructure.cli.console import console, services, shown

app = typer.Typer(help="Read the event log.", no_args_is_help=True)


def event_fields(entry: LoggedEvent) -> dict[str, Any]:
    """The event's own fields (without the envelope), JSON-ready."""
    skipped = {"originator_id", "originator_version", "timestamp", "originator_topic"}
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in vars(entry.event).items()
        if k not in skipped
    }


def experiment_entries(app_: NeonBlue, key: str, start: int) -> Iterator[LoggedEvent]:
    """The experiment's own events and those of its participations, from ``start``."""
    own = experiment_id(key)
    members: set[UUID] = set()
    for entry in app_.log():
        if isinstance(entry.event, Participation.Enrolled) and entry.event.experiment_key == key:
            members.add(entry.originator_id)
        if entry.position >= start and (
            entry.originator_id == own or entry.originator_id in members
        ):
            yield entry


@app.command("log")
def log(
    experiment: Annotated[str | None, typer.Option(help="Only this experiment's events.")] = None,
    start: Annotated[int, typer.Option(help="First log position to show.", min=1)] = 1,
    limit: Annotated[
        int, typer.Option(help="How many events to show (a page).", min=1, max=10_000)
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show the event log in order, a page at a time."""
    with services() as s:
        if experiment is not None:
            s.app.experiment(experiment)  # clear error for an unknown key
            entries = experiment_entries(s.app, experiment, start)
        else:
            entries = s.app.log(start=start)
        page = [entry for _, entry in zip(range(limit), entries, strict=False)]
        head = s.app.head()
    if as_json:
        for entry in page:
            record = {
                "position": entry.position,
                "event": entry.name,
                "originator_id": str(entry.originator_id),
                "version": entry.version,
                "timestamp": entry.event.timestamp.isoformat(),
                "data": event_fields(entry),
            }
            print(json.dumps(record, default=str))
        return
    table = Table("position", "recorded at", "event", "aggregate", "v", "data")
    for entry in page:
        data = json.dumps(event_fields(entry), default=str)
        table.add_row(
            str(entry.position),
            entry.event.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            entry.name,
            str(entry.originator_id)[:8],
            str(entry.version),
            shown(data if len(data) <= 90 else data[:87] + "..."),
        )
    console.print(table)
    if page and page[-1].position < head:
        console.print(f"More events: --start {page[-1].position + 1} (log head is {head}).")
