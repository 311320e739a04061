"""`neonblue mcp serve NAME`: run one of the MCP servers over stdio or HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from infrastructure.cli.console import console, running_serve, services
from infrastructure.settings import ConfigurationError

app = typer.Typer(help="Serve NeonBlue's MCP servers.", no_args_is_help=True)

NAMES = ("postgresql", "clickhouse", "chromadb", "experiment_intelligence")
SERVE_OWNS = ("clickhouse", "chromadb", "experiment_intelligence")
"""Servers that open read models a running serve owns (chDB and Chroma admit one process;
the intelligence server's agents read through the other two). postgresql opens only the
event store and the relational model, which several processes share."""


@app.command()
def serve(
    name: Annotated[
        str, typer.Argument(help="postgresql, clickhouse, chromadb or experiment_intelligence.")
    ],
    transport: Annotated[str, typer.Option(help="stdio or http.")] = "stdio",
    host: Annotated[str | None, typer.Option(help="HTTP bind address (default 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default 8000).", min=0, max=65535)
    ] = None,
) -> None:
    """Serve one MCP server until interrupted. Over stdio, when `neonblue serve` runs for the
    same data, messages are relayed to it instead of opening the stores here; over HTTP,
    clickhouse, chromadb and experiment_intelligence refuse to start beside it (serve
    already offers them at /mcp/<name>)."""
    from infrastructure.settings import McpSettings

    if transport not in ("stdio", "http"):
        raise ConfigurationError(f"--transport must be stdio or http, not {transport!r}.")
    if name not in NAMES:
        raise ConfigurationError(f"No MCP server named {name!r}; choose one of {', '.join(NAMES)}.")
    settings = McpSettings()
    settings = settings.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    if transport == "stdio" and _relayed(name):
        return
    if transport == "http" and name in SERVE_OWNS:
        _not_beside_serve(name)
    from mcp_servers.common.transport import serve as run

    with services() as s:
        server = s.mcp_server(name)
        mode: Literal["stdio", "http"] = "http" if transport == "http" else "stdio"
        run(server, mode, settings.host, settings.port, settings.token, name)


def _relayed(name: str) -> bool:
    """Relays stdio to a running serve for this data; False when there is none."""
    address = running_serve()
    if address is None:
        return False
    from infrastructure.serve.stdio_proxy import forward_stdio

    forward_stdio(address, name)
    return True


def _not_beside_serve(name: str) -> None:
    """Refuses, before anything opens, to serve ``name`` over HTTP while a serve owns the
    read models it opens (every call would fail); serve already offers it at /mcp/<name>."""
    from infrastructure.serve.discovery import holder, share_data_dir
    from infrastructure.settings import EventStoreSettings

    address = running_serve()
    if address is not None:
        raise ConfigurationError(
            f"`neonblue serve` at {address.url} owns the read models the {name} server opens "
            f"and already serves it at {address.url}/mcp/{name}: connect there, or stop serve "
            "to run it here."
        )
    data_dir = EventStoreSettings().data_dir
    held = share_data_dir(data_dir)  # taken exclusively by a serve not found above
    if held is None:
        raise ConfigurationError(
            f"`neonblue serve` {holder(data_dir) or 'is starting'} for {data_dir} owns the "
            f"read models the {name} server opens and serves it at /mcp/{name}: connect "
            "there, or stop serve to run it here."
        )
    held.close()


@app.command("list")
def list_servers() -> None:
    """List the servers and their tools."""
    import anyio
    from mcp import Client

    async def tools_of(server) -> list[str]:
        async with Client(server) as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    with services() as s:
        for name in NAMES:
            names = anyio.run(tools_of, s.mcp_server(name))
            console.print(f"[bold]{name}[/]: {', '.join(names)}")
