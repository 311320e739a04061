"""The graphs' only way to read: MCP tool calls to NeonBlue's servers, each one recorded.

Servers are reached as real MCP clients: stdio subprocesses (`neonblue mcp serve NAME`) by
default, or streamable-HTTP URLs. Connections open when the toolbox is entered (anyio
requires a client to be closed by the task that opened it, and graph nodes run in tasks
of their own); a run resumed only to act on an approval passes no servers.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from domain.errors import DomainError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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


def stdio_server(name: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    """How to launch one of NeonBlue's servers as a stdio subprocess."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "infrastructure.cli", "mcp", "serve", name],
        env={**os.environ, **(env or {})},
        cwd=str(PROJECT_ROOT),
    )


@dataclass
class McpToolbox:
    """Named MCP connections (stdio parameters, URLs or in-process servers) and a call log."""

    servers: dict[str, Any]
    calls: list[ToolCall] = field(default_factory=list)
    _clients: dict[str, Client] = field(default_factory=dict)
    _stack: AsyncExitStack | None = None

    async def __aenter__(self) -> McpToolbox:
        self._stack = AsyncExitStack()
        try:
            for name, target in self.servers.items():
                client = Client(target, read_timeout_seconds=120)
                self._clients[name] = await self._stack.enter_async_context(client)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._clients.clear()

    def has(self, server: str) -> bool:
        return server in self.servers

    async def client(self, server: str) -> Client:
        if server not in self._clients:
            raise ToolFailed(f"MCP server {server!r} is not connected for this agent.")
        return self._clients[server]

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Calls a tool; returns its structured answer or raises ToolFailed with its message."""
        client = await self.client(server)
        started = time.perf_counter()
        result = await client.call_tool(tool, arguments)
        elapsed = (time.perf_counter() - started) * 1000
        answer = result.structured_content or {}
        position = (answer.get("freshness") or {}).get("position") if not result.is_error else None
        self.calls.append(ToolCall(server, tool, arguments, not result.is_error, elapsed, position))
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
