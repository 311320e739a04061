"""Domain and configuration errors become ToolError messages, never tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ToolError

from domain.errors import DomainError
from infrastructure.settings import ConfigurationError


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turns anticipated failures into messages the client (or model) can act on."""
    try:
        yield
    except (DomainError, ConfigurationError) as error:
        raise ToolError(str(error)) from None
