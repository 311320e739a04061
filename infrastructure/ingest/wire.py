"""The wire format: the seed's event JSON, versioned and validated with pydantic.

Version 1 is the seed's schema (no ``schema_version``; extra fields allowed). Version 2
adds explicit ``variant``, ``metric``, ``value`` and ``properties``. Older versions are
upcast to the newest, so the rest of ingest sees only `WireEvent` (version 2): a seed
event's ``variant``/``metric``/``value`` extras become those fields, every other extra
field is kept under ``properties``.

`decode` bounds what it accepts before any recursive code sees it: a message longer than
``Limits.max_bytes`` is ``too_large`` and JSON nested deeper than ``Limits.max_depth`` is
``too_deep``, so validation, translation and the event store's JSON encoder never meet
input that could exhaust the stack or the broker's message size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

CURRENT_VERSION = 2
Text = Field(min_length=1, max_length=256)
MAX_BYTES = 512 * 1024
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds checked by `decode` (settings: ``NEONBLUE_KAFKA_MAX_EVENT_BYTES|DEPTH``)."""

    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH


DEFAULT_LIMITS = Limits()


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
    extra = dict(event.model_extra or {})
    data = event.model_dump(exclude={"schema_version", *extra})
    for name in ("variant", "metric", "value"):
        if name in extra:
            data[name] = extra.pop(name)
    properties = extra.pop("properties", None)
    data["properties"] = {**(properties if isinstance(properties, dict) else {}), **extra}
    return data


def decode(raw: bytes | None, limits: Limits = DEFAULT_LIMITS) -> WireEvent:
    """Parses, validates and upcasts one message; raises `InvalidMessage` with the reason."""
    if raw is None:
        raise InvalidMessage("empty message (no value)", "not_json")
    data = load_bounded(raw, limits)
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


def load_bounded(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The JSON object in ``raw``, within ``limits``; raises `InvalidMessage` otherwise."""
    if len(raw) > limits.max_bytes:
        raise InvalidMessage(
            f"message of {len(raw):,} bytes exceeds the limit of {limits.max_bytes:,}", "too_large"
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):  # orjson's own bound (1024 levels)
            raise InvalidMessage(_too_deep(limits), "too_deep") from None
        raise InvalidMessage(f"not JSON: {error}", "not_json") from None
    # a container needs an opening bracket: few brackets in the bytes bound the depth cheaply
    if raw.count(b"{") + raw.count(b"[") > limits.max_depth and _deeper_than(
        data, limits.max_depth
    ):
        raise InvalidMessage(_too_deep(limits), "too_deep")
    if not isinstance(data, dict):
        raise InvalidMessage(f"not a JSON object but {type(data).__name__}", "schema")
    return data


def _too_deep(limits: Limits) -> str:
    return f"JSON nested deeper than {limits.max_depth} levels"


def _deeper_than(data: Any, limit: int) -> bool:
    """True when containers nest more than ``limit`` levels (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


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
