"""A stdio MCP server that forwards every message to a running `neonblue serve`.

Desktop clients start `neonblue mcp serve NAME` as a subprocess; when a serve already owns
the stores, the subprocess only relays JSON-RPC messages between its stdio and
``<serve>/mcp/NAME`` (streamable HTTP), so it starts in a moment and opens nothing.

At end of input the relay ends as the server it stands in for does
(`mcp_servers.common.stdio`): the requests already read are answered (within
``DRAIN_SECONDS``; later ones are dropped), then it closes its side of stdout. That close
is what ends the SDK's stdio transport: its stdout writer stops only when the stream it
reads is closed, so a relay that only cancelled its own tasks at end of input never exited
(and dropped the answers still on their way).
"""

from __future__ import annotations

import anyio
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

from infrastructure.serve.discovery import ServeAddress
from mcp_servers.common.stdio import DRAIN_SECONDS, Unanswered, error_reply

CANCELLED = "notifications/cancelled"


async def relay(address: ServeAddress, name: str) -> None:
    """Relays until the client closes stdin and the requests it sent are answered."""
    headers = {"Authorization": f"Bearer {address.token}"} if address.token else None
    unanswered = Unanswered()
    async with (
        stdio_server() as (from_client, to_client),
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{address.url}/mcp/{name}", http_client=http) as (
            from_serve,
            to_serve,
        ),
        to_client,  # closed once nothing more is written: the SDK's stdout writer then ends
        anyio.create_task_group() as tasks,
    ):

        async def downstream() -> None:
            async for message in from_serve:
                if not isinstance(message, Exception):
                    await to_client.send(message)
                    if isinstance(message.message, JSONRPCResponse | JSONRPCError):
                        unanswered.answered(message.message.id)  # written: may end the drain

        tasks.start_soon(downstream)
        async for message in from_client:
            if isinstance(message, Exception):  # a malformed line: -32700/-32600 reply
                await to_client.send(SessionMessage(error_reply(message)))
            else:
                sent = message.message
                if isinstance(sent, JSONRPCRequest):
                    unanswered.add(sent.id)
                elif isinstance(sent, JSONRPCNotification) and sent.method == CANCELLED:
                    unanswered.answered((sent.params or {}).get("requestId"))  # maybe never
                await to_serve.send(message)
        with anyio.move_on_after(DRAIN_SECONDS):  # the client closed stdin
            await unanswered.drained()
        tasks.cancel_scope.cancel()


def forward_stdio(address: ServeAddress, name: str) -> None:
    anyio.run(relay, address, name)
