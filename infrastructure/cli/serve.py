"""`neonblue serve`: follow the log with every projection and serve the read side on one port."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from infrastructure.cli.console import error_console, shown

if TYPE_CHECKING:
    from infrastructure.settings import ServeSettings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default NEONBLUE_SERVE_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port (default NEONBLUE_SERVE_PORT, 8765).", min=0, max=65535),
    ] = None,
) -> None:
    """Run the read side: projections following the log, the four MCP servers at
    /mcp/<name>, the agents, /health and /metrics. Ctrl-C or SIGTERM stop it cleanly;
    a kill loses nothing (every projection resumes from its stored position)."""
    from infrastructure.serve.discovery import hold_data_dir, holder, remove_marker, write_marker
    from infrastructure.settings import (
        ConfigurationError,
        EventStoreSettings,
        McpSettings,
        ServeSettings,
    )
    from mcp_servers.common.transport import checked_token

    settings = ServeSettings()
    host, port = host or settings.host, port if port is not None else settings.port
    token = checked_token(McpSettings().token)  # refuses blank or short tokens
    store_settings = EventStoreSettings()
    data_dir = store_settings.data_dir
    held = hold_data_dir(data_dir)  # one serve per data directory (kept open until exit)
    if held is None:
        where = holder(data_dir)
        raise ConfigurationError(
            f"`neonblue serve` already runs for {data_dir} {where}: use it, or stop it first."
            if where
            else f"Another process holds {data_dir}: a serve starting, or a `neonblue "
            "projections` rebuild, run or gc writing its read models. Start serve once it ends."
        )
    _check_port(host, port, ConfigurationError)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    # commands run meanwhile wait for this serve, which opens the read models before it listens
    write_marker(data_dir, url, store_settings.identity, starting=True)
    try:
        _serve(host, port, url, token, settings)
    finally:
        remove_marker(data_dir)


def _serve(host: str, port: int, url: str, token: str | None, settings: ServeSettings) -> None:
    import uvicorn

    from infrastructure.bootstrap import bootstrap
    from infrastructure.serve.app import ServeApp
    from infrastructure.serve.discovery import remove_marker, write_marker

    with bootstrap(follows_log=True) as services:
        store = services.event_store

        stopping = threading.Event()

        def ready() -> None:
            write_marker(store.data_dir, url, store.identity)
            at = shown(url)
            error_console.print(
                f"Serving {shown(store.identity)} on {at}: MCP at {at}/mcp/<server> "
                f"(postgresql, clickhouse, chromadb, experiment_intelligence), {at}/health, "
                f"{at}/metrics ({'token required' if token else 'no token: loopback only'})."
            )
            threading.Thread(
                target=report_catch_up, args=(app.follower, stopping), daemon=True
            ).start()

        def stopped() -> None:
            stopping.set()
            remove_marker(store.data_dir)
            error_console.print("Stopped: every projection committed its last batch.")

        app = ServeApp(
            services, host, token, settings.poll_seconds, settings.batch_size, ready, stopped,
            draw_ahead=settings.draw_ahead,
        )  # fmt: skip
        server = uvicorn.Server(
            uvicorn.Config(app.asgi(), host=host, port=port, log_level="warning", lifespan="on")
        )
        # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal: exit 0 then
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, lambda *_: sys.exit(0))
        server.run()


def report_catch_up(follower: Any, stopping: threading.Event, every: float = 3.0) -> None:
    """Prints the projections' progress every ``every`` seconds while they catch up with the
    log after serve starts (answers wait for the read models meanwhile), then how long it
    took; nothing when they were caught up within the first interval."""
    started = time.monotonic()
    reported = False
    while not stopping.wait(every):
        statuses = follower.statuses()
        behind = [s for s in statuses if s.lag_events > 0]
        if not behind:
            if reported:
                head = max(s.head for s in statuses)
                error_console.print(
                    f"Caught up with the log ({head:,} events) after "
                    f"{time.monotonic() - started:.0f} s."
                )
            return
        error_console.print(
            "Catching up with the log: "
            + ", ".join(f"{s.name} {s.position:,}/{s.head:,} ({_share(s)})" for s in statuses)
        )
        reported = True


def _share(status: Any) -> str:
    return f"{status.position / status.head:.0%}" if status.head else "100%"


def _check_port(host: str, port: int, error: type[Exception]) -> None:
    """A clear message instead of uvicorn's when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as reason:
            raise error(
                f"Cannot listen on {host}:{port} ({reason.strerror}); is another serve running? "
                "Choose another --port or NEONBLUE_SERVE_PORT."
            ) from None
