"""The graphs' only way to read: MCP tool calls to NeonBlue's servers, each one recorded.

Servers are reached as real MCP clients over whatever target the composition root hands
over: an `MCPServer` in the same process (the SDK's in-memory transport), a streamable-HTTP
URL (`neonblue serve`), or stdio parameters. Connections open in one task the toolbox
owns (anyio requires a client to be closed by the task that opened it, and calls come from
tasks of their own): when the toolbox is entered, or for a `Deferred` target when a call
first needs it. They are shared by every run; each run records its own calls (`for_run`).
A run resumed only to act on an approval passes no servers.

The SDK's `Client.call_tool` re-validates every structured answer against the tool's
output schema with jsonschema: 10-20 ms an answer, about a third of a question's CPU in
`serve`. An answer of a server in this process is the server's own pydantic model, valid
by construction, so calls to in-process servers skip that check (the same request through
the session's public `send_request`); answers over HTTP or stdio are still checked.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
from mcp import Client, types
from mcp.server.mcpserver import MCPServer

from domain.errors import DomainError


class ToolFailed(DomainError):
    """An MCP tool answered with an error; the message is the server's."""


@dataclass
class ToolCall:
    server: str
    tool: str
    arguments: dict[str, Any]
    ok: bool
    milliseconds: float
    position: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HttpTarget:
    """A streamable-HTTP server that may require ``Authorization: Bearer <token>``."""

    url: str
    token: str | None = None


@dataclass(frozen=True)
class Deferred:
    """A target built when a run first calls it: an in-process server no question needs
    is never built (building one is ~0.1 s of tool schemas, a third of a cold `ask`)."""

    build: Callable[[], Any]


async def _connect(stack: AsyncExitStack, target: Any) -> Client:
    if isinstance(target, HttpTarget):
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        headers = {"Authorization": f"Bearer {target.token}"} if target.token else None
        http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        target = streamable_http_client(target.url, http_client=http)
    return await stack.enter_async_context(Client(target, read_timeout_seconds=120))


class _Connections:
    """Opens connections when first needed, always in one task of its own: anyio wants a
    client closed by the task that opened it, and calls come from any run's tasks."""

    def __init__(self, servers: dict[str, Any]) -> None:
        self.servers = servers
        self.clients: dict[str, Client] = {}
        self.in_process: set[str] = set()  # answers are the server's own models
        self._locks = {name: anyio.Lock() for name in servers}
        self._failed: dict[str, BaseException] = {}
        self._requests: Any = None

    async def own(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        send, receive = anyio.create_memory_object_stream[tuple[str, anyio.Event]](100)
        self._requests = send
        task_status.started()
        async with AsyncExitStack() as stack, receive:
            async for name, done in receive:
                target = self.servers[name]
                try:
                    if isinstance(target, Deferred):
                        target = target.build()
                    self.clients[name] = await _connect(stack, target)
                    if isinstance(target, MCPServer):
                        self.in_process.add(name)
                except Exception as error:
                    self._failed[name] = error
                finally:
                    done.set()

    async def client(self, name: str) -> Client:
        if name not in self.clients:
            if name not in self._locks or self._requests is None:
                raise ToolFailed(f"MCP server {name!r} is not connected for this agent.")
            async with self._locks[name]:
                if name not in self.clients and name not in self._failed:
                    done = anyio.Event()
                    await self._requests.send((name, done))
                    await done.wait()
            if name in self._failed:
                raise self._failed[name]
        return self.clients[name]

    def close(self) -> None:
        if self._requests is not None:
            self._requests.close()  # the owning task closes every client and ends


@dataclass
class McpToolbox:
    """Named MCP connections (stdio parameters, URLs, in-process servers, or `Deferred`
    builders of them) and a call log."""

    servers: dict[str, Any]
    calls: list[ToolCall] = field(default_factory=list)
    """In the order the calls were made (concurrent ones finish in any order)."""
    _connections: _Connections | None = None
    _stack: AsyncExitStack | None = None
    _made: list[int] = field(default_factory=list, repr=False)  # the calls' start numbers
    _started: int = field(default=0, repr=False)

    async def __aenter__(self) -> McpToolbox:
        self._stack = AsyncExitStack()
        self._connections = _Connections(self.servers)
        try:
            group = await self._stack.enter_async_context(anyio.create_task_group())
            self._stack.callback(self._connections.close)  # runs before the group is awaited
            await group.start(self._connections.own)
            for name, target in self.servers.items():
                if not isinstance(target, Deferred):  # fails here when unreachable
                    await self._connections.client(name)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._stack is not None:
            await self._stack.aclose()

    def for_run(self) -> McpToolbox:
        """The same connections with a call log of its own (concurrent runs)."""
        return McpToolbox(self.servers, _connections=self._connections)

    def has(self, server: str) -> bool:
        return server in self.servers

    async def client(self, server: str) -> Client:
        if self._connections is None:
            raise ToolFailed(f"MCP server {server!r} is not connected for this agent.")
        return await self._connections.client(server)

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Calls a tool; returns its structured answer or raises ToolFailed with its message."""
        number, self._started = self._started, self._started + 1
        client = await self.client(server)
        started = time.perf_counter()
        if server in self._connections.in_process:  # the server's own model: not re-checked
            request = types.CallToolRequest(
                params=types.CallToolRequestParams(name=tool, arguments=arguments)
            )
            result = await client.session.send_request(request, types.CallToolResult)
        else:
            result = await client.call_tool(tool, arguments)
        elapsed = (time.perf_counter() - started) * 1000
        answer = result.structured_content or {}
        position = (answer.get("freshness") or {}).get("position") if not result.is_error else None
        at = bisect.bisect(self._made, number)
        self._made.insert(at, number)
        self.calls.insert(
            at, ToolCall(server, tool, arguments, not result.is_error, elapsed, position)
        )
        if result.is_error:
            text = " ".join(getattr(c, "text", "") for c in result.content)
            raise ToolFailed(text.removeprefix(f"Error executing tool {tool}: "))
        return answer

    async def list_tools(self, server: str) -> list[Any]:
        return list((await (await self.client(server)).list_tools()).tools)

    def positions(self) -> dict[str, int]:
        """The newest read-model position each server answered at."""
        positions: dict[str, int] = {}
        for call in self.calls:
            if call.position is not None:
                positions[call.server] = max(positions.get(call.server, 0), call.position)
        return positions
