"""A stdio MCP server that forwards every message to a running `neonblue serve`.

Desktop clients start `neonblue mcp serve NAME` as a subprocess; when a serve already owns
the stores, the subprocess only relays JSON-RPC messages between its stdio and
``<serve>/mcp/NAME`` (streamable HTTP), so it starts in a moment and opens nothing.
"""

from __future__ import annotations

import anyio
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.message import SessionMessage

from infrastructure.serve.discovery import ServeAddress
from mcp_servers.common.stdio import error_reply


async def relay(address: ServeAddress, name: str) -> None:
    headers = {"Authorization": f"Bearer {address.token}"} if address.token else None
    async with (
        stdio_server() as (from_client, to_client),
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{address.url}/mcp/{name}", http_client=http) as (
            from_serve,
            to_serve,
        ),
        anyio.create_task_group() as tasks,
    ):

        async def upstream() -> None:
            async for message in from_client:
                if isinstance(message, Exception):  # a malformed line: -32700/-32600 reply
                    await to_client.send(SessionMessage(error_reply(message)))
                else:
                    await to_serve.send(message)
            tasks.cancel_scope.cancel()  # the client closed stdin: we are done

        async def downstream() -> None:
            async for message in from_serve:
                if not isinstance(message, Exception):
                    await to_client.send(message)

        tasks.start_soon(upstream)
        tasks.start_soon(downstream)


def forward_stdio(address: ServeAddress, name: str) -> None:
    anyio.run(relay, address, name)
