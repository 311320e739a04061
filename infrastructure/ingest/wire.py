"""The wire format: the seed's event JSON, versioned and validated with pydantic.

Version 1 is the seed's schema (no ``schema_version``; extra fields allowed). Version 2
adds explicit ``variant``, ``metric``, ``value`` and ``properties``. Older versions are
upcast to the newest, so the rest of ingest sees only `WireEvent` (version 2).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

CURRENT_VERSION = 2
Text = Field(min_length=1, max_length=256)


class InvalidMessage(ValueError):
    """A message cannot be ingested; the message is the readable reason for the dead letter."""

    def __init__(self, reason: str, kind: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class _Common(BaseModel):
    event_id: str = Text
    user_id: str = Text
    experiment_id: str = Text
    event_type: str = Field(min_length=1, max_length=100)
    timestamp: AwareDatetime
    ai_classification: dict[str, Any] | None = None
    semantic_context: dict[str, Any] | None = None
    routing_metadata: dict[str, Any] | None = None


class WireEventV1(_Common):
    """The seed's schema; unknown extra fields are kept and moved by the upcaster."""

    model_config = ConfigDict(extra="allow")
    schema_version: Literal[1] = 1


class WireEvent(_Common):
    """Version 2, what ingest works with."""

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[2] = 2
    variant: str | None = Field(default=None, min_length=1, max_length=100)
    metric: str | None = Field(default=None, min_length=1, max_length=100)
    value: float | None = Field(default=None, allow_inf_nan=False)
    properties: dict[str, Any] = Field(default_factory=dict)


def upcast_v1_v2(event: WireEventV1) -> dict[str, Any]:
    """Seed events carry variant/metric/value as loose extra fields; v2 names them."""
    data = event.model_dump(exclude={"schema_version"})
    extra = dict(event.model_extra or {})
    for name in ("variant", "metric", "value"):
        if name in extra:
            data[name] = extra.pop(name)
    properties = extra.pop("properties", None)
    data["properties"] = {**(properties if isinstance(properties, dict) else {}), **extra}
    return data


def decode(raw: bytes | None) -> WireEvent:
    """Parses, validates and upcasts one message; raises `InvalidMessage` with the reason."""
    if raw is None:
        raise InvalidMessage("empty message (no value)", "not_json")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidMessage(f"not JSON: {error}", "not_json") from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"not a JSON object but {type(data).__name__}", "schema")
    version = data.get("schema_version", 1)
    try:
        if version == CURRENT_VERSION:
            return WireEvent.model_validate(data)
        if version == 1:
            return WireEvent.model_validate(upcast_v1_v2(WireEventV1.model_validate(data)))
    except ValidationError as error:
        raise InvalidMessage(f"schema violation: {_describe(error)}", "schema") from None
    raise InvalidMessage(
        f"unknown schema_version {version!r}; supported: 1 (seed) and {CURRENT_VERSION}",
        "schema",
    )


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def encode(event: WireEvent | dict[str, Any]) -> bytes:
    """The JSON bytes of an event (version 2), as producers send it."""
    if isinstance(event, WireEvent):
        return event.model_dump_json(exclude_none=True, exclude_defaults=False).encode()
    return json.dumps(event, separators=(",", ":"), default=str).encode()
