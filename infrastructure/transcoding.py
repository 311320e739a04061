"""How event state becomes JSON: the library's tagged format, written by orjson where safe.

The library's `JSONTranscoder` writes non-JSON values as ``{"_type_": name, "_data_": ...}``
with the stdlib encoder. orjson writes the same format about three times faster, hooking
datetimes and registered types through ``default``; but it writes UUIDs natively as plain
strings (it has no hook for them), which would decode as ``str``. So `FastMapper` uses it
only for event classes whose declared fields cannot hold a UUID (`uuid_free`), and anything
orjson rejects (e.g. an integer beyond 64 bits) falls back to the stdlib encoder. Both
outputs decode with the library's decoder. One difference: orjson writes a non-finite float
as ``null`` (the stdlib writes ``NaN``, which is not JSON); the domain rejects non-finite
metric values before they reach an event.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Annotated, Any, Union
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Transcoding
from eventsourcing.utils import get_topic

from domain.values import JsonNative

_SCALARS = frozenset({str, int, float, bool, type(None), datetime, date, time_of_day, Decimal})
_UNIONS = (Union, types.UnionType)
_SEQUENCES = (list, tuple, set, frozenset, Sequence)
_MAPPINGS = (dict, Mapping)


class AsDict(Transcoding):
    """Stores a frozen value object as its dict (used in snapshots)."""

    def __init__(self, cls: type, name: str) -> None:
        self.type = cls
        self.name = name

    def encode(self, obj: Any) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Any:
        from_dict = getattr(self.type, "from_dict", None)
        return from_dict(data) if from_dict else self.type(**data)


class SetAsList(Transcoding):
    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class Transcoder(JSONTranscoder):
    """The library's JSON transcoder that also encodes subclasses of registered types (e.g.
    a datetime subclass from a frozen clock) and has a fast path for UUID-free values."""

    def _encode_obj(self, o: Any) -> dict[str, Any]:
        for cls in type(o).__mro__:
            transcoding = self.types.get(cls)
            if transcoding is not None:
                return {"_type_": transcoding.name, "_data_": transcoding.encode(o)}
        return super()._encode_obj(o)

    def encode_uuid_free(self, obj: Any) -> bytes:
        """`encode` for values known to hold no UUID (see the module docstring)."""
        try:
            return orjson.dumps(
                obj, default=self._encode_obj, option=orjson.OPT_PASSTHROUGH_DATETIME
            )
        except TypeError:  # orjson.JSONEncodeError: e.g. a big int; the exact path decides
            return self.encode(obj)


def uuid_free(annotation: Any) -> bool:
    """True when a value of this (resolved) type cannot hold a UUID."""
    if typing.get_origin(annotation) is Annotated:
        return JsonNative in annotation.__metadata__ or uuid_free(typing.get_args(annotation)[0])
    if annotation in _SCALARS:
        return True
    if isinstance(annotation, type):  # StrEnum, IntEnum, ...: orjson writes the value
        return issubclass(annotation, str | int | float) and not issubclass(annotation, UUID)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in _UNIONS or origin in _SEQUENCES:
        return bool(args) and all(a is Ellipsis or uuid_free(a) for a in args)
    if origin in _MAPPINGS:
        return len(args) == 2 and uuid_free(args[1])
    return False


def uuid_free_event(cls: type) -> bool:
    """True when no field of the event class but its originator id can hold a UUID."""
    if not dataclasses.is_dataclass(cls):
        return False
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # unresolvable annotations: take the exact path
        return False
    names = {f.name for f in dataclasses.fields(cls)} - {"originator_id", "originator_version"}
    return all(name in hints and uuid_free(hints[name]) for name in names)


class FastMapper(Mapper[UUID]):
    """The library's mapper, writing the states of UUID-free event classes with orjson."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[type, tuple[str, int, bool]] = {}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        transcoder = self.transcoder
        if self.compressor or self.cipher or not isinstance(transcoder, Transcoder):
            return super().to_stored_event(domain_event)
        cls = type(domain_event)
        plan = self._plans.get(cls)
        if plan is None:
            plan = (get_topic(cls), getattr(cls, "class_version", 1), uuid_free_event(cls))
            self._plans[cls] = plan
        topic, class_version, fast = plan
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        if class_version > 1:
            state["class_version"] = class_version
        payload = transcoder.encode_uuid_free(state) if fast else transcoder.encode(state)
        return StoredEvent(originator_id, originator_version, topic, payload)
