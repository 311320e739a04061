"""`neonblue mcp serve NAME`: run one of the MCP servers over stdio or HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from infrastructure.cli.console import console, error_console, services
from infrastructure.settings import ConfigurationError

app = typer.Typer(help="Serve NeonBlue's MCP servers.", no_args_is_help=True)


@app.command()
def serve(
    name: Annotated[
        str, typer.Argument(help="postgresql, clickhouse, chromadb or experiment_intelligence.")
    ],
    transport: Annotated[str, typer.Option(help="stdio or http.")] = "stdio",
    host: Annotated[str | None, typer.Option(help="HTTP bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8000).")] = None,
) -> None:
    """Serve one MCP server until interrupted."""
    from mcp_servers.common.settings import McpSettings
    from mcp_servers.common.transport import serve as run
    from mcp_servers.registry import UnknownServer, build

    if transport not in ("stdio", "http"):
        raise ConfigurationError(f"--transport must be stdio or http, not {transport!r}.")
    settings = McpSettings()
    settings = settings.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    with services() as s:
        try:
            server = build(name, s, settings)
        except UnknownServer as error:
            raise ConfigurationError(str(error)) from None
        if transport == "http":
            error_console.print(
                f"Serving {name} on http://{settings.host}:{settings.port}/mcp "
                f"({'token required' if settings.token else 'no token: loopback only'})."
            )
        mode: Literal["stdio", "http"] = "http" if transport == "http" else "stdio"
        run(server, mode, settings.host, settings.port, settings.token)


@app.command("list")
def list_servers() -> None:
    """List the servers and their tools."""
    import anyio
    from mcp import Client

    from mcp_servers.registry import BUILDERS, build

    async def tools_of(server) -> list[str]:
        async with Client(server) as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    with services() as s:
        for name in BUILDERS:
            names = anyio.run(tools_of, build(name, s))
            console.print(f"[bold]{name}[/]: {', '.join(names)}")
