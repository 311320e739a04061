"""`neonblue privacy forget | export | retention`: data subjects' rights (README, Privacy)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from infrastructure.cli.console import console, error_console, running_serve, services, shown
from infrastructure.settings import ConfigurationError

app = typer.Typer(
    help="Forget a user, export what is held about one, apply the retention period.",
    no_args_is_help=True,
)

_DURATION = re.compile(r"^(\d{1,5})([dhw])$")
_UNITS = {"d": "days", "h": "hours", "w": "weeks"}


class BadDuration(ConfigurationError):
    """A duration that is not like 400d, 12w or 36h."""


def parse_duration(text: str) -> timedelta:
    found = _DURATION.match(text.strip())
    if not found:
        raise BadDuration(f"{text!r} is not a duration; write e.g. 400d, 12w or 36h.")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def _catch_up_here() -> bool:
    """serve owns the read models and applies the erasure itself when it runs."""
    address = running_serve()
    if address is not None:
        console.print(
            f"`neonblue serve` at {shown(address.url)} applies the erasure to the read models."
        )
    return address is None


@app.command()
def forget(
    user_id: Annotated[str, typer.Argument(help="The user's id as producers send it.")],
    reason: Annotated[str, typer.Option(help="Recorded with the erasure.")] = "erasure request",
) -> None:
    """Delete the user's key and record the erasure: the log stays verifiable, the user's
    personal data unreadable; read models keep only anonymous contributions."""
    from infrastructure.forgetting import forget as forget_user

    with services() as s:
        report = forget_user(s, user_id, reason=reason, catch_up=_catch_up_here())
    done = "forgotten" if report.committed else "already forgotten; finished the clean-up"
    updated = ", ".join(report.read_models) or (
        "not yet" if report.read_models_pending else "by serve"
    )
    console.print(
        f"{report.pseudonym}: {done} (dead letters removed: {report.dead_letters}, "
        f"agent runs removed: {report.checkpoint_threads}, "
        f"conversations removed: {report.conversations}, "
        f"read models updated: {updated})."
    )
    if report.read_models_pending:
        error_console.print(
            "[yellow]read models not updated yet:[/] "
            f"{shown(report.read_models_pending)} The erasure is recorded and the user's data "
            "unreadable; each read model anonymises the user when it next catches up (serve, "
            "`neonblue projections run`, or any command reading it)."
        )
        raise typer.Exit(3)
    if report.legacy_experiments:
        error_console.print(
            f"[yellow]not protected:[/] data in {shown(', '.join(report.legacy_experiments))} was "
            "stored before privacy protection and keeps the plain id (README, Privacy)."
        )
        raise typer.Exit(1)


@app.command()
def export(
    user_id: Annotated[str, typer.Argument(help="The user's id as producers send it.")],
    out: Annotated[Path | None, typer.Option(help="Write the JSON here (default: stdout).")] = None,
) -> None:
    """Everything held about the user, as JSON (an access request)."""
    from infrastructure.forgetting import export as export_user

    with services() as s:
        held = export_user(s, user_id)
    if held["status"] == "none":
        error_console.print(
            f"Nothing is held about {shown(user_id)}: check the id is as producers send it "
            "(ids are case-sensitive)."
        )
    text = json.dumps(held, indent=2, ensure_ascii=False, default=str)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
        console.print(f"wrote {shown(out)}")


@app.command()
def retention(
    older_than: Annotated[str, typer.Option(help="e.g. 400d: forget users idle this long.")],
) -> None:
    """Forget every user whose last event is older than the period (run it scheduled)."""
    from infrastructure.forgetting import catch_up_read_models
    from infrastructure.forgetting import retention as apply_retention

    period = parse_duration(older_than)
    if period < timedelta(days=1):
        raise typer.BadParameter(
            f"{older_than} would forget users active today; retention periods are days (e.g. 400d)"
        )
    serve_runs = not _catch_up_here()
    with services() as s, Progress(console=error_console, transient=True) as bar:
        task = bar.add_task("forgetting idle users", total=None)
        reports = apply_retention(
            s, period, catch_up=False,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
        if reports and not serve_runs:
            catch_up_read_models(s)
    console.print(f"forgot {len(reports)} user(s) idle for more than {shown(older_than)}.")
