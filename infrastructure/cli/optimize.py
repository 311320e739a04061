"""`neonblue optimize ...`: opt experiments in to real-time traffic optimisation and run it."""

from __future__ import annotations

import getpass
from typing import Annotated

import anyio
import typer
from rich.table import Table

from infrastructure.cli.console import agent_servers, console, error_console, services, shown
from infrastructure.cli.tables import whole_rows

app = typer.Typer(
    help="Thompson-sampling traffic optimisation for opted-in experiments.", no_args_is_help=True
)


@app.command()
def policy(
    experiment: str,
    auto: Annotated[
        bool,
        typer.Option(
            "--auto/--approve-each", help="Apply changes automatically, or wait for approval."
        ),
    ] = False,
    min_share: Annotated[float, typer.Option(help="Smallest share any arm keeps.")] = 0.1,
    max_step: Annotated[float, typer.Option(help="Largest weight change per step.")] = 0.1,
    by: Annotated[str | None, typer.Option(help="Who sets the policy (default: you).")] = None,
) -> None:
    """Opt an experiment in (or change its policy)."""
    from infrastructure.allocation_policies import set_policy

    with services() as s:
        set_policy(
            s.app,
            experiment,
            auto_apply=auto,
            min_share=min_share,
            max_step=max_step,
            by=by or getpass.getuser(),
        )
    mode = "applied automatically" if auto else "proposed for approval"
    console.print(
        f"{shown(experiment)}: reallocations will be {mode} (min share {min_share:.0%}, "
        f"max step {max_step:.0%})."
    )


@app.command()
def revoke(experiment: str, by: Annotated[str | None, typer.Option()] = None) -> None:
    """Opt an experiment out."""
    from infrastructure.allocation_policies import revoke_policy

    with services() as s:
        revoked = revoke_policy(s.app, experiment, by or getpass.getuser())
    if not revoked:
        error_console.print(f"{shown(experiment)} has no optimisation policy: nothing to revoke.")
        raise typer.Exit(1)
    console.print(f"{shown(experiment)}: optimisation revoked.")


@app.command()
def run(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.", min=1.0)] = 60.0,
) -> None:
    """Watch opted-in experiments and propose (or apply) reallocations."""
    from agents.common.toolbox import McpToolbox
    from agents.optimization.process import optimise_once, run_forever

    def show(outcomes) -> None:
        table = Table("experiment", "outcome", "recommendation", "detail")
        for o in outcomes:
            table.add_row(
                shown(o.experiment_key), o.outcome, o.recommendation_id or "", shown(o.detail[:100])
            )
        console.print(
            whole_rows(table, "experiment", "recommendation")
            if outcomes
            else "No experiment is opted in: neonblue optimize policy KEY"
        )

    async def main(s) -> None:
        async with McpToolbox(agent_servers(s)) as toolbox:
            if once:
                show(await optimise_once(s, toolbox))
            else:
                await run_forever(s, toolbox, interval, show)

    with services() as s:
        try:
            anyio.run(main, s)
        except KeyboardInterrupt:
            console.print("Stopped.")
