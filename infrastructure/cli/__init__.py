"""The `neonblue` command line: entry point and error handling."""

from __future__ import annotations

import sys

from domain.errors import DomainError
from infrastructure.cli.app import app
from infrastructure.cli.console import error_console
from infrastructure.serve.client import ServeError
from infrastructure.serve.discovery import ServeUnreachable
from infrastructure.settings import ConfigurationError

__all__ = ["app", "main"]


def _persistence_error(error: Exception) -> bool:
    """An event-store failure (eventsourcing is imported only by commands that use it)."""
    persistence = sys.modules.get("eventsourcing.persistence")
    return persistence is not None and isinstance(error, persistence.PersistenceError)


def _undecodable(argv: list[str]) -> str | None:
    """The first argument the shell passed as bytes that are not UTF-8 (Python hands them
    on as lone surrogates, which no store, hash or model takes), shown escaped."""
    for arg in argv:
        try:
            arg.encode()
        except UnicodeEncodeError:
            return arg.encode(errors="surrogateescape").decode(errors="backslashreplace")
    return None


def main() -> None:
    """Runs the CLI; domain, configuration and storage errors become one-line messages."""
    bad = _undecodable(sys.argv[1:])
    if bad is not None:
        from rich.markup import escape

        error_console.print(
            f"[bold red]configuration error:[/] argument '{escape(bad)}' is not valid UTF-8.",
            highlight=False,
        )
        sys.exit(2)
    try:
        app()
    except ServeError as error:  # serve's own one-line message, with the same exit codes
        label = "configuration error" if error.kind == "configuration" else "error"
        error_console.print(f"[bold red]{label}:[/] {error}")
        sys.exit({"domain": 1, "configuration": 2}.get(error.kind, 3))
    except ServeUnreachable as error:
        error_console.print(f"[bold red]configuration error:[/] {error}")
        sys.exit(2)
    except DomainError as error:
        error_console.print(f"[bold red]error:[/] {error}")
        sys.exit(1)
    except ConfigurationError as error:
        error_console.print(f"[bold red]configuration error:[/] {error}")
        sys.exit(2)
    except Exception as error:
        if not _persistence_error(error):
            raise
        error_console.print(
            f"[bold red]event store unavailable:[/] {error.__class__.__name__}: {error}"
        )
        sys.exit(3)
