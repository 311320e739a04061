"""Value types shared by the aggregates' events."""

from __future__ import annotations

from typing import Annotated, Any


class JsonNative:
    """Marks a field whose values are JSON-native (str, finite numbers, bool, None, lists,
    dicts), e.g. decoded from a JSON message.

    Contexts and payloads that arrive as JSON are declared so; the event store may then
    write them with a faster encoder that needs no hooks for non-JSON types.
    """


JsonObject = Annotated[dict[str, Any], JsonNative]
