"""Registering tools: strict argument models and the hints clients show before a call.

The SDK builds each tool's argument model from its signature with pydantic's defaults:
unknown arguments are dropped silently (a client's ``"sql": ...`` would look accepted).
Every NeonBlue tool is registered here instead, with a model that forbids unknown
arguments (its input schema says ``additionalProperties: false``) and with annotations:
whether it only reads, whether it is idempotent, and that it reaches no outside world.
Numbers and booleans are declared ``Strict`` in the signatures (`common/inputs.py`), so
``true`` is never read as 1. Refused arguments come back as one line naming each argument
and what is wrong with it (the SDK's text is pydantic's multi-line report, with the values
sent and links to pydantic's documentation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import ConfigDict, ValidationError

from mcp_servers.common.errors import argument_problems

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
"""Reads read models or the log; calling it twice changes nothing."""

COMMAND = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
"""Records a new domain event (a note, a recommendation): additive, never destructive,
and each call records one more event."""


class StrictTool(Tool):
    """A tool whose refused arguments are reported in one line."""

    async def run(
        self, arguments: dict[str, Any], context: Any, convert_result: bool = False
    ) -> Any:
        try:
            return await super().run(arguments, context, convert_result)
        except UnexpectedToolError:
            raise
        except ToolError as error:
            if not isinstance(error.__cause__, ValidationError):
                raise
            raise ToolError(
                f"Error executing tool {self.name}: invalid arguments: "
                f"{argument_problems(error.__cause__)}"
            ) from error.__cause__  # the SDK logs only the field names of such a cause


def strict_tool(fn: Callable[..., Any], annotations: ToolAnnotations) -> Tool:
    """The SDK's tool for ``fn``, with an argument model that refuses unknown arguments."""
    tool = StrictTool.from_function(fn, annotations=annotations)
    lax = tool.fn_metadata.arg_model
    strict = type(
        lax.__name__,
        (lax,),
        {"model_config": ConfigDict(extra="forbid"), "__module__": fn.__module__},
    )
    metadata = tool.fn_metadata.model_copy(update={"arg_model": strict})
    return tool.model_copy(
        update={"fn_metadata": metadata, "parameters": strict.model_json_schema(by_alias=True)}
    )
