"""Serving over stdio with a JSON-RPC error reply for every line that is not a message.

The SDK's stdio transport (mcp 2.3, ``mcp.server.stdio``) turns a line it cannot parse
into an exception on the read stream, and the server's dispatcher drops such items with
a debug log: the client gets no answer and waits for its timeout. JSON-RPC 2.0 asks for
a reply with ``id: null``: -32700 (parse error) for text that is not JSON, -32600
(invalid request) for JSON that is not a JSON-RPC message (with the request's id when
one can be read). This module runs the server as ``MCPServer.run_stdio_async`` does, with
a relay between the transport and the server that answers those lines and passes every
valid message through unchanged.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
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


async def serve_stdio(server: MCPServer) -> None:
    """``server.run_stdio_async()``, answering malformed lines instead of dropping them."""
    lowlevel = server._lowlevel_server  # private, but what run_stdio_async itself runs
    async with stdio_server() as (transport_read, write_stream):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def relay() -> None:
            async with send:
                async for item in transport_read:
                    if isinstance(item, Exception):
                        await write_stream.send(SessionMessage(error_reply(item)))
                    else:
                        await send.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(relay)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            tasks.cancel_scope.cancel()


def run_stdio(server: MCPServer) -> None:
    """Blocks serving ``server`` over stdin/stdout."""
    anyio.run(serve_stdio, server)
