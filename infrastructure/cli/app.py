"""Command tree of the CLI."""

from __future__ import annotations

import typer

from infrastructure.cli import (
    agents,
    audit,
    demo,
    events,
    experiments,
    ingest,
    mcp,
    optimize,
    projections,
    triage,
)

app = typer.Typer(
    name="neonblue",
    help="NeonBlue: event-sourced experimentation platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(events.app, name="events")
app.add_typer(audit.app, name="audit")
app.add_typer(mcp.app, name="mcp")
app.add_typer(agents.approvals, name="approvals")
app.command("recommend")(agents.recommend)
app.command("ask")(agents.ask)
app.add_typer(optimize.app, name="optimize")
app.command("assign")(experiments.assign)
app.command("demo")(demo.demo)
app.command("report")(audit.report)
app.command("produce")(ingest.produce)
app.command("simulate")(ingest.simulate)
app.command("ingest")(ingest.ingest)
app.add_typer(triage.app, name="triage")
app.command("route")(triage.route)
app.add_typer(ingest.dead_letters_app, name="dead-letters")
app.add_typer(projections.app, name="projections")
app.command("results")(projections.results)
