"""How event state becomes JSON: the library's tagged format, written by orjson where safe.

The library's `JSONTranscoder` writes non-JSON values as ``{"_type_": name, "_data_": ...}``
with the stdlib encoder. orjson writes the same format about three times faster, hooking
datetimes and registered types through ``default``; but it writes UUIDs natively as plain
strings (it has no hook for them), which would decode as ``str``. So `FastMapper` uses it
only for event classes whose declared fields cannot hold a UUID (`uuid_free`), and anything
orjson rejects (e.g. an integer beyond 64 bits) falls back to the stdlib encoder. Both
outputs decode with the library's decoder. One difference: orjson writes a non-finite float
as ``null``, where the stdlib encoder here refuses it (`NonFiniteNumber`: its ``NaN`` is not
JSON); the domain rejects non-finite values before they reach an event.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Annotated, Any, Union
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Transcoding
from eventsourcing.utils import get_topic

from domain.values import JsonNative

_NATIVE = frozenset({str, int, float, bool, type(None)})  # orjson writes them as JSON does
_HOOKED = frozenset({datetime, date, time_of_day, Decimal})  # written through `default`
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


class NonFiniteNumber(ValueError):
    """An event's state holds NaN or an infinity, which JSON cannot hold (the stdlib writes
    ``NaN``/``Infinity``, which no strict reader takes: projections would stop at it)."""


class Transcoder(JSONTranscoder):
    """The library's JSON transcoder that also encodes subclasses of registered types (e.g.
    a datetime subclass from a frozen clock), has a fast path for UUID-free values, and
    refuses non-finite numbers instead of writing JSON that is not JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = json.JSONEncoder(
            default=self._encode_obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )

    def encode(self, obj: Any) -> bytes:
        try:
            return super().encode(obj)
        except ValueError as error:
            if "Out of range float" not in str(error):
                raise
            raise NonFiniteNumber(
                f"cannot store a non-finite number (NaN or infinity) in an event: {obj!r:.200}"
            ) from None

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

    def encode_json_native(self, obj: Any) -> bytes:
        """`encode` for values holding only plain JSON and already tagged values; raises
        TypeError for what orjson cannot write (e.g. a big int)."""
        return orjson.dumps(obj, default=self._encode_obj)


def _holds_only(annotation: Any, scalars: frozenset[type]) -> bool:
    """True when every value of this (resolved) type is built of ``scalars`` (or of a
    str/int/float subclass such as a StrEnum, which orjson writes as its value)."""
    if typing.get_origin(annotation) is Annotated:
        return JsonNative in annotation.__metadata__ or _holds_only(
            typing.get_args(annotation)[0], scalars
        )
    if annotation in scalars:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in _UNIONS or origin in _SEQUENCES:
        return bool(args) and all(a is Ellipsis or _holds_only(a, scalars) for a in args)
    if origin in _MAPPINGS:
        return len(args) == 2 and _holds_only(args[1], scalars)
    if isinstance(annotation, type):
        return issubclass(annotation, str | int | float) and not issubclass(annotation, UUID)
    return False


def uuid_free(annotation: Any) -> bool:
    """True when a value of this (resolved) type cannot hold a UUID."""
    return _holds_only(annotation, _NATIVE | _HOOKED)


def json_native(annotation: Any) -> bool:
    """True when a value of this (resolved) type is plain JSON (no datetime, no UUID)."""
    return _holds_only(annotation, _NATIVE)


def _field_types(cls: type) -> dict[str, Any] | None:
    """The resolved types of the event class's fields but the envelope (None: unknown)."""
    if not dataclasses.is_dataclass(cls):
        return None
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # unresolvable annotations: take the exact path
        return None
    names = [f.name for f in dataclasses.fields(cls)]
    if any(name not in hints for name in names):
        return None
    return {n: hints[n] for n in names if n not in ("originator_id", "originator_version")}


def uuid_free_event(cls: type) -> bool:
    """True when no field of the event class but its originator id can hold a UUID."""
    return _uuid_free_fields(_field_types(cls))


def _uuid_free_fields(fields: dict[str, Any] | None) -> bool:
    return fields is not None and all(uuid_free(kind) for kind in fields.values())


_DATETIME = (datetime, datetime | None)  # typing.Optional[datetime] compares equal
_MINUTE = timedelta(minutes=1)


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """How to write the events of one class."""

    topic: str
    class_version: int
    fast: bool  # orjson: no field can hold a UUID
    datetimes: tuple[str, ...] | None  # all other fields are plain JSON: tag these first


class FastMapper(Mapper[UUID]):
    """The library's mapper, writing the states of UUID-free event classes with orjson.

    When an event class's fields are plain JSON but for declared datetimes, these are
    tagged before encoding with the datetime itself as ``_data_``, which orjson writes
    exactly as ``isoformat()`` does (tests/infrastructure/test_transcoding.py), in C,
    instead of calling back into Python.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[type, _Plan] = {}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        transcoder = self.transcoder
        if self.compressor or self.cipher or not isinstance(transcoder, Transcoder):
            return super().to_stored_event(domain_event)
        cls = type(domain_event)
        plan = self._plans.get(cls) or self._plan(cls)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        if plan.class_version > 1:
            state["class_version"] = plan.class_version
        if plan.datetimes is not None:
            try:
                payload = transcoder.encode_json_native(_tagged(state, plan.datetimes))
            except TypeError:  # orjson.JSONEncodeError: e.g. a big int
                payload = transcoder.encode(state)
        elif plan.fast:
            payload = transcoder.encode_uuid_free(state)
        else:
            payload = transcoder.encode(state)
        return StoredEvent(originator_id, originator_version, plan.topic, payload)

    def _plan(self, cls: type) -> _Plan:
        resolved = _field_types(cls)
        fast = _uuid_free_fields(resolved)
        fields = resolved or {}
        datetimes = tuple(name for name, kind in fields.items() if kind in _DATETIME)
        tagged = getattr(self.transcoder, "names", {}).get("datetime_iso")
        native = (
            fast
            and tagged is not None
            and tagged.type is datetime
            and all(json_native(kind) for name, kind in fields.items() if name not in datetimes)
        )
        plan = _Plan(
            get_topic(cls), getattr(cls, "class_version", 1), fast, datetimes if native else None
        )
        self._plans[cls] = plan
        return plan


def _tagged(state: dict[str, Any], datetimes: tuple[str, ...]) -> dict[str, Any]:
    """``state`` with the datetimes tagged as the library does; the text of one whose UTC
    offset is whole minutes (RFC 3339) is left to orjson, which writes it as ``isoformat``."""
    tagged = dict(state)
    for name in datetimes:
        value = tagged[name]
        if isinstance(value, datetime):
            as_is = (value.tzinfo is UTC and type(value) is datetime) or _rfc3339(value)
            tagged[name] = {
                "_type_": "datetime_iso",
                "_data_": value if as_is else value.isoformat(),
            }
    return tagged


def _rfc3339(value: datetime) -> bool:
    """True when orjson writes ``value`` exactly as ``isoformat`` does (a plain datetime
    with no offset, or one of whole minutes); UTC, the common case, is checked first."""
    offset = value.utcoffset()
    return type(value) is datetime and (offset is None or not offset % _MINUTE)
