"""Errors the client reads: anticipated failures become short messages, never tracebacks.

``tool_errors`` turns domain and configuration errors into ``ToolError`` messages.
``bounded_errors`` is a server middleware: whatever fails (a tool, a prompt rendered with
missing or invalid arguments, a resource read of a hostile URI), the client gets a
message of at most ``MAX_ERROR_CHARS`` characters and never an echo of its whole input.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import BaseModel

from domain.errors import DomainError
from infrastructure.settings import ConfigurationError

MAX_ERROR_CHARS = 500


def shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    kept = limit - 40
    return f"{text[:kept]}... [{len(text) - kept:,} characters omitted]"


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turns anticipated failures into messages the client (or model) can act on."""
    try:
        yield
    except (DomainError, ConfigurationError) as error:
        raise ToolError(shorten(str(error))) from None


async def bounded_errors(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Server middleware: short error messages and data for every request."""
    try:
        result = await call_next(ctx)
    except MCPError as error:
        raise MCPError(error.code, shorten(error.message), _short_data(error.data)) from None
    except Exception as error:
        if ctx.method != "prompts/get":
            raise
        # the SDK reports bad prompt arguments as an internal error (with a traceback)
        raise MCPError(INVALID_PARAMS, shorten(f"Invalid prompt request: {error}")) from None
    if ctx.method == "tools/call":
        _shorten_tool_error(result)
    return result


def _short_data(data: Any) -> Any:
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: shorten(v, 200) if isinstance(v, str) else v for k, v in data.items()}
    return shorten(str(data), 200)


def _shorten_tool_error(result: Any) -> None:
    if isinstance(result, BaseModel):
        if getattr(result, "is_error", False):
            for block in getattr(result, "content", []):
                if isinstance(getattr(block, "text", None), str):
                    block.text = shorten(block.text)
    elif isinstance(result, dict) and result.get("isError"):
        for block in result.get("content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                block["text"] = shorten(block["text"])
