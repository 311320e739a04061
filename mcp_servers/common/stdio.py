"""Serving over stdio with a JSON-RPC error reply for every line that is not a message.

The SDK's stdio transport (mcp 2.3, ``mcp.server.stdio``) turns a line it cannot parse
into an exception on the read stream, and the server's dispatcher drops such items with
a debug log: the client gets no answer and waits for its timeout. JSON-RPC 2.0 asks for
a reply with ``id: null``: -32700 (parse error) for text that is not JSON, -32600
(invalid request) for JSON that is not a JSON-RPC message (with the request's id when
one can be read). This module runs the server as ``MCPServer.run_stdio_async`` does, with
a relay between the transport and the server that answers those lines and passes every
valid message through unchanged.

The relay also holds the server's input open at end of input until every request already
read is answered: the SDK's dispatcher cancels in-flight handlers when its read stream
closes, so a client that writes its requests and closes stdin (``printf ... | neonblue mcp
serve``) lost the answers still being computed.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCRequest,
    JSONRPCResponse,
)
from pydantic import ValidationError

from mcp_servers.common.errors import shorten


def error_reply(problem: Exception) -> JSONRPCError:
    """The JSON-RPC error answering a line the transport could not read as a message."""
    unparsable = not isinstance(problem, ValidationError) or any(
        error["type"] == "json_invalid" for error in problem.errors()
    )
    if unparsable:
        return JSONRPCError(
            jsonrpc="2.0",
            id=None,
            error=ErrorData(code=PARSE_ERROR, message="Parse error: the line is not valid JSON."),
        )
    return JSONRPCError(
        jsonrpc="2.0",
        id=_request_id(problem),
        error=ErrorData(
            code=INVALID_REQUEST,
            message=shorten(f"Invalid request: not a JSON-RPC 2.0 message ({_first(problem)})."),
        ),
    )


def _first(problem: ValidationError) -> str:
    first = problem.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))


def _request_id(problem: ValidationError) -> str | int | None:
    """The id of the refused request, when the line was a JSON object with a usable id."""
    for error in problem.errors():
        data: Any = error.get("input")
        if isinstance(data, dict):
            request_id = data.get("id")
            if isinstance(request_id, str | int) and not isinstance(request_id, bool):
                return request_id
    return None


DRAIN_SECONDS = 60.0
"""How long requests read before end of input may still take to be answered."""


class Unanswered:
    """Ids of the requests read from stdin whose response has not been written yet."""

    def __init__(self) -> None:
        self._ids: set[str | int] = set()
        self._changed = anyio.Event()

    def add(self, request_id: str | int) -> None:
        self._ids.add(request_id)

    def answered(self, request_id: str | int | None) -> None:
        if request_id in self._ids:
            self._ids.discard(request_id)
            self._changed.set()

    async def drained(self) -> None:
        while self._ids:
            self._changed = anyio.Event()
            await self._changed.wait()


async def serve_stdio(server: MCPServer) -> None:
    """``server.run_stdio_async()``, answering malformed lines instead of dropping them."""
    lowlevel = server._lowlevel_server  # private, but what run_stdio_async itself runs
    async with stdio_server() as (transport_read, transport_write):
        inbound, server_read = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        server_write, outbound = anyio.create_memory_object_stream[SessionMessage](0)
        replies = server_write.clone()  # the relay's own error replies, in the same order
        unanswered = Unanswered()

        async def relay_in() -> None:
            async with inbound, replies:
                async for item in transport_read:
                    if isinstance(item, Exception):
                        await replies.send(SessionMessage(error_reply(item)))
                        continue
                    if isinstance(item.message, JSONRPCRequest):
                        unanswered.add(item.message.id)
                    await inbound.send(item)
                with anyio.move_on_after(DRAIN_SECONDS):
                    await unanswered.drained()

        async def relay_out() -> None:
            # Ends when both the server and relay_in have closed their ends; closing the
            # transport's write stream then lets the SDK's stdout writer finish.
            async with outbound, transport_write:
                async for item in outbound:
                    if isinstance(item.message, JSONRPCResponse | JSONRPCError):
                        unanswered.answered(item.message.id)
                    await transport_write.send(item)

        async with anyio.create_task_group() as writing:
            writing.start_soon(relay_out)
            async with anyio.create_task_group() as reading:
                reading.start_soon(relay_in)
                await lowlevel.run(
                    server_read, server_write, lowlevel.create_initialization_options()
                )
                reading.cancel_scope.cancel()


def run_stdio(server: MCPServer) -> None:
    """Blocks serving ``server`` over stdin/stdout."""
    anyio.run(serve_stdio, server)
