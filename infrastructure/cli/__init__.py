"""The `neonblue` command line: entry point and error handling."""

from __future__ import annotations

import sys

from domain.errors import DomainError
from domain.experiments.errors import ExperimentNotFound
from infrastructure.cli.app import app
from infrastructure.cli.console import demo_data_hint, error_console, printable, shown
from infrastructure.serve.client import ServeError
from infrastructure.serve.discovery import ServeOfAnotherStore, ServeUnreachable
from infrastructure.settings import ConfigurationError

__all__ = ["app", "main"]


def _persistence_error(error: Exception) -> bool:
    """An event-store failure (eventsourcing is imported only by commands that use it)."""
    persistence = sys.modules.get("eventsourcing.persistence")
    if persistence is not None and isinstance(error, persistence.PersistenceError):
        return True
    sqlite3 = sys.modules.get("sqlite3")  # e.g. the store's path names a file of another kind
    return sqlite3 is not None and isinstance(error, sqlite3.DatabaseError)


def _store_identity() -> str:
    """Which store failed, without its password (the settings may be what is wrong)."""
    from infrastructure.settings import EventStoreSettings

    try:
        return EventStoreSettings().identity
    except Exception as error:  # the settings themselves are invalid
        return f"settings invalid: {error}"


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
        error_console.print(
            f"[bold red]configuration error:[/] argument '{shown(bad)}' is not valid UTF-8.",
            highlight=False,
        )
        sys.exit(2)
    try:
        app()
    except ServeError as error:  # serve's own one-line message, with the same exit codes
        label = "configuration error" if error.kind == "configuration" else "error"
        _fail(label, str(error), {"domain": 1, "configuration": 2}.get(error.kind, 3))
    except (ServeUnreachable, ServeOfAnotherStore) as error:
        _fail("configuration error", str(error), 2)
    except DomainError as error:
        hint = demo_data_hint() if isinstance(error, ExperimentNotFound) else None
        _fail("error", f"{error} {hint}" if hint else str(error), 1)
    except ConfigurationError as error:
        _fail("configuration error", str(error), 2)
    except OSError as error:  # a path given on the command line or in the environment
        where = f": {error.filename}" if error.filename else ""
        _fail("file error", f"{error.strerror or error}{where}", 2)
    except (UnicodeDecodeError, OverflowError) as error:
        _fail("input error", f"{type(error).__name__}: {error}", 2)
    except Exception as error:
        if _persistence_error(error):
            message = f"{error.__class__.__name__}: {error}".strip()
            _fail("event store unavailable", f"{message} ({_store_identity()})", 3)
        invalid = _invalid(error)
        if invalid is None:
            raise
        _fail("input error", invalid, 2)


def _fail(label: str, message: str, code: int) -> None:
    """One line on stderr, the message shown as text (never as markup or terminal codes:
    it may quote what the user typed), and the exit code."""
    from rich.text import Text

    error_console.print(Text.assemble((f"{label}:", "bold red"), " ", printable(message)))
    sys.exit(code)


def _invalid(error: Exception) -> str | None:
    """A validation error of a setting or an input (pydantic, JSON), as one line."""
    if isinstance(error, ValueError) and type(error).__name__ == "JSONDecodeError":
        return f"not valid JSON: {error}"
    if type(error).__name__ == "NonFiniteNumber":  # infrastructure.transcoding (not imported)
        return str(error)
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(error, pydantic.ValidationError):
        return None
    problems = [
        f"{'.'.join(str(part) for part in e['loc']) or e.get('input', '')}: {e['msg']}"
        for e in error.errors()
    ]
    return f"{error.title}: " + "; ".join(problems)
