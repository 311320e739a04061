"""Shared rich consoles, and the services or read side a command works with.

Nothing heavy is imported here: commands that only talk to a running `neonblue serve`
start in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from rich.console import Console

from infrastructure.controls import escapes

if TYPE_CHECKING:
    from infrastructure.bootstrap import Services
    from infrastructure.read_side import ReadSide

console = Console()
error_console = Console(stderr=True)


def working(message: str, quiet: bool = False) -> AbstractContextManager[Any]:
    """A spinner with ``message`` on stderr while a step of several seconds runs, so a
    terminal never sits silent; nothing when stderr is not a terminal or ``quiet`` (--json)."""
    if quiet or not error_console.is_terminal:
        return nullcontext()
    return error_console.status(message)


_CONTROL = escapes(keep="\n\t")


def printable(text: object) -> str:
    """``text`` with control characters (a terminal's escape sequences, bidirectional
    overrides: `infrastructure.controls`) shown escaped instead of acting; for a rich
    `Text`, which is never read as markup."""
    return str(text).translate(_CONTROL)


def shown(text: object) -> str:
    """What a user or a producer wrote, safe inside rich markup: `printable`, and never
    read as markup itself (``[beta]`` stays ``[beta]``, ``[/]`` cannot break the line)."""
    from rich.markup import escape

    return escape(printable(text))


@contextmanager
def services(vector_index: bool = True) -> Iterator[Services]:
    """Services built from the environment, closed when the command ends (``vector_index``:
    see `bootstrap`)."""
    from infrastructure.bootstrap import bootstrap

    built = bootstrap(vector_index=vector_index)
    try:
        yield built
    finally:
        built.close()


def demo_data_hint(empty: bool = False) -> str | None:
    """Where `neonblue demo` wrote its data, when this command read the default data
    directory and it holds no experiments (after the demo, a plain `neonblue ask` would
    otherwise meet an empty store without saying why). None in every other case.
    ``empty``: the caller has just read the store and found none (not read again)."""
    from infrastructure.settings import EventStoreSettings

    store = EventStoreSettings()
    demo = store.data_dir / "demo"
    if store.model_fields_set & {"data_dir", "event_store"} or not (demo / "events.db").exists():
        return None
    if not empty and _holds_experiments(store):
        return None
    return (
        f"{store.data_dir} holds no experiments. `neonblue demo` wrote its own to {demo}: "
        f"explore them with NEONBLUE_DATA_DIR={demo} neonblue ..."
    )


def _holds_experiments(store: Any) -> bool:
    """Whether ``store`` holds experiments (True when it cannot be read: no hint then; a
    hint never becomes an error of its own)."""
    from infrastructure.bootstrap import build_app

    try:
        app = build_app(store)
        try:
            return bool(app.experiment_keys())
        finally:
            app.close()
    except Exception:
        return True


def print_demo_data_hint(empty: bool = False) -> None:
    hint = demo_data_hint(empty)
    if hint is not None:
        error_console.print(f"[yellow]{shown(hint)}[/]")


def running_serve() -> Any:
    """The address of a serve for this data, or None (never raises for a stale marker)."""
    from infrastructure.serve.discovery import find_serve
    from infrastructure.settings import EventStoreSettings, McpSettings, ServeSettings

    store, serve = EventStoreSettings(), ServeSettings()
    if not (serve.discover or serve.url):
        return None

    def waiting(url: str) -> None:
        error_console.print(f"Waiting for `neonblue serve`, starting at {shown(url)}...")

    return find_serve(store.data_dir, store.identity, serve.url, McpSettings().token, waiting)


def agent_servers(services: Services) -> dict[str, Any]:
    """MCP targets for agents run by a command: the mounts of a running serve (which owns
    the read models) when there is one, else the servers in this process."""
    address = running_serve()
    if address is None:
        return services.read_servers()
    from agents.common.toolbox import HttpTarget
    from infrastructure.serve.client import check_token

    check_token(address)  # a clear line, not the MCP client's error deep in a task group
    from infrastructure.bootstrap import READ_SERVERS

    return {name: HttpTarget(f"{address.url}/mcp/{name}", address.token) for name in READ_SERVERS}


def chosen_engine(option: str | None = None) -> str | None:
    """The statistics engine this command asks for: ``--engine``, else the one the user's
    environment sets (``NEONBLUE_STATS_ENGINE``), else None: the default of whoever answers
    (this process's, or a running serve's own setting). A bad setting is refused here, as
    `bootstrap` refuses it when no serve runs."""
    from infrastructure.settings import StatisticsSettings

    settings = StatisticsSettings()
    if option is not None:
        return option
    return settings.stats_engine if "stats_engine" in settings.model_fields_set else None


@contextmanager
def read_side() -> Iterator[ReadSide]:
    """A running `neonblue serve` for this data when there is one (it owns the embedded
    read models), else the read models opened in this process. This process's settings
    are checked either way (serve answers with its own, but a bad one here is an error)."""
    address = running_serve()
    if address is not None:
        from infrastructure.serve.client import RemoteReadSide

        chosen_engine()  # refuses a bad NEONBLUE_STATS_ENGINE, as `bootstrap` would

        remote = RemoteReadSide(address)
        try:
            yield remote
        finally:
            remote.close()
        return
    from infrastructure.read_side import LocalReadSide

    with services() as built:
        yield LocalReadSide(built)
