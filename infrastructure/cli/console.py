"""Shared rich consoles, and the services or read side a command works with.

Nothing heavy is imported here: commands that only talk to a running `neonblue serve`
start in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from infrastructure.bootstrap import Services
    from infrastructure.read_side import ReadSide

console = Console()
error_console = Console(stderr=True)


@contextmanager
def services() -> Iterator[Services]:
    """Services built from the environment, closed when the command ends."""
    from infrastructure.bootstrap import bootstrap

    built = bootstrap()
    try:
        yield built
    finally:
        built.close()


@contextmanager
def read_side() -> Iterator[ReadSide]:
    """A running `neonblue serve` for this data when there is one (it owns the embedded
    read models), else the read models opened in this process."""
    from infrastructure.serve.discovery import find_serve
    from infrastructure.settings import EventStoreSettings, McpSettings, ServeSettings

    store, serve = EventStoreSettings(), ServeSettings()
    address = None
    if serve.discover or serve.url:
        address = find_serve(store.data_dir, store.identity, serve.url, McpSettings().token)
    if address is not None:
        from infrastructure.serve.client import RemoteReadSide

        remote = RemoteReadSide(address)
        try:
            yield remote
        finally:
            remote.close()
        return
    from infrastructure.read_side import LocalReadSide

    with services() as built:
        yield LocalReadSide(built)
