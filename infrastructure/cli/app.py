"""Command tree of the CLI.

Each command's module is imported only when that command runs (``--help`` and unknown
commands import them all): a command that asks a running `neonblue serve` must not pay
for the statistics engine, the event store and the audit code at start-up.
"""

from __future__ import annotations

import importlib
import sys

import typer

GROUPS = {  # command -> (module, Typer attribute)
    "experiments": ("experiments", "app"),
    "events": ("events", "app"),
    "audit": ("audit", "app"),
    "mcp": ("mcp", "app"),
    "approvals": ("agents", "approvals"),
    "optimize": ("optimize", "app"),
    "triage": ("triage", "app"),
    "dead-letters": ("ingest", "dead_letters_app"),
    "projections": ("projections", "app"),
    "privacy": ("privacy", "app"),
}
COMMANDS = {  # command -> (module, function)
    "recommend": ("agents", "recommend"),
    "ask": ("agents", "ask"),
    "assign": ("experiments", "assign"),
    "demo": ("demo", "demo"),
    "report": ("audit", "report"),
    "produce": ("ingest", "produce"),
    "simulate": ("ingest", "simulate"),
    "ingest": ("ingest", "ingest"),
    "route": ("triage", "route"),
    "results": ("projections", "results"),
    "segments": ("projections", "segments"),
    "serve": ("serve", "serve"),
}


def build(argv: list[str]) -> typer.Typer:
    """The command tree, with only the invoked command when ``argv`` names one."""
    app = typer.Typer(
        name="neonblue",
        help="NeonBlue: event-sourced experimentation platform.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.callback()(lambda: None)  # a group even when a single command is registered
    invoked = next((arg for arg in argv[1:] if not arg.startswith("-")), None)
    wanted = {invoked} if invoked in GROUPS or invoked in COMMANDS else None
    for name, (module, attribute) in GROUPS.items():
        if wanted is None or name in wanted:
            app.add_typer(getattr(_module(module), attribute), name=name)
    for name, (module, function) in COMMANDS.items():
        if wanted is None or name in wanted:
            app.command(name)(getattr(_module(module), function))
    return app


def _module(name: str):
    return importlib.import_module(f"infrastructure.cli.{name}")


def app() -> None:
    build(sys.argv)()
