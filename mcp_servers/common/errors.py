"""Errors the client reads: anticipated failures become short messages, never tracebacks.

``tool_errors`` turns domain and configuration errors into ``ToolError`` messages.
``bounded_errors`` is a server middleware: whatever fails (a tool, a prompt rendered with
missing or invalid arguments, a resource read of a hostile URI), the client gets one line
of at most ``MAX_ERROR_CHARS`` characters (control and format characters, such as a newline
or a right-to-left override in a name the client sent, are shown escaped) and never an
echo of its whole input. ``argument_problems`` says which arguments were refused and why,
in one line, without the values sent or pydantic's links.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import BaseModel, ValidationError

from domain.errors import DomainError
from infrastructure.settings import ConfigurationError

MAX_ERROR_CHARS = 500


def shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    kept = limit - 40
    return f"{text[:kept]}... [{len(text) - kept:,} characters omitted]"


def printable(text: str) -> str:
    """``text`` on one line: characters that are not printable (newlines, NUL, bidi
    overrides, ...) shown as escapes, e.g. ``\\n`` or ``\\u202e``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def argument_problems(error: ValidationError) -> str:
    """Each refused argument and what is wrong with it, e.g. ``limit: Input should be less
    than or equal to 500; sql: unknown argument`` (no values: they are the caller's data)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(shorten(printable(str(part)), 64) for part in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown argument" if len(item["loc"]) == 1 else "unknown field"
        elif (
            item["type"] == "string_pattern_mismatch"
            and item.get("ctx", {}).get("pattern") == r"\S"
        ):
            message = "String should have a visible character (it is blank)"
        problems.append(f"{where or 'arguments'}: {printable(message)}")
    return "; ".join(problems)


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
        message = shorten(printable(error.message))
        raise MCPError(error.code, message, _short_data(error.data)) from None
    except Exception as error:
        if ctx.method != "prompts/get":
            raise
        # the SDK reports bad prompt arguments as an internal error (with a traceback)
        cause = _validation_cause(error)
        problem = f"invalid arguments: {argument_problems(cause)}" if cause else str(error)
        raise MCPError(
            INVALID_PARAMS, shorten(printable(f"Invalid prompt request: {problem}"))
        ) from None
    if ctx.method == "tools/call":
        _shorten_tool_error(result)
    return result


def _validation_cause(error: BaseException) -> ValidationError | None:
    """The pydantic error an exception was raised from, through the SDK's re-raises."""
    cause = error.__cause__
    while cause is not None and not isinstance(cause, ValidationError):
        cause = cause.__cause__
    return cause


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
                    block.text = shorten(printable(block.text))
    elif isinstance(result, dict) and result.get("isError"):
        for block in result.get("content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                block["text"] = shorten(printable(block["text"]))
