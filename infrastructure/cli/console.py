"""Shared rich consoles and the services context used by every command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from infrastructure.bootstrap import Services, bootstrap

console = Console()
error_console = Console(stderr=True)


@contextmanager
def services() -> Iterator[Services]:
    """Services built from the environment, closed when the command ends."""
    built = bootstrap()
    try:
        yield built
    finally:
        built.close()
