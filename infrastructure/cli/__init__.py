"""The `neonblue` command line: entry point and error handling."""

from __future__ import annotations

import sys

from eventsourcing.persistence import PersistenceError

from domain.errors import DomainError
from infrastructure.cli.app import app
from infrastructure.cli.console import error_console
from infrastructure.settings import ConfigurationError

__all__ = ["app", "main"]


def main() -> None:
    """Runs the CLI; domain, configuration and storage errors become one-line messages."""
    try:
        app()
    except DomainError as error:
        error_console.print(f"[bold red]error:[/] {error}")
        sys.exit(1)
    except ConfigurationError as error:
        error_console.print(f"[bold red]configuration error:[/] {error}")
        sys.exit(2)
    except PersistenceError as error:
        error_console.print(
            f"[bold red]event store unavailable:[/] {error.__class__.__name__}: {error}"
        )
        sys.exit(3)
