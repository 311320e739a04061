"""Debezium's JSON change-event envelope, decoded into one `RowChange` (or a `Tombstone`).

A change event is ``{"before", "after", "op", "source", "ts_ms", ...}``, either bare
(``value.converter.schemas.enable=false``) or wrapped as ``{"schema": ..., "payload":
...}``. ``op`` is ``c`` (insert), ``u`` (update), ``d`` (delete) or ``r`` (a row read by a
snapshot); a delete is followed by a tombstone (a null value, for log compaction), which
carries nothing to apply. The table comes from ``source.table``, so both tables may share a
topic. A change is identified by its row and its source position (``source.lsn`` for
PostgreSQL), so a connector's redelivery is recognised whatever offset it arrives at;
sources without a position fall back to the Kafka coordinates.

Expected columns (other columns are ignored): experiments ``key``, ``name``, and optionally
``hypothesis``, ``description``, ``tags`` (text[] or comma-separated), ``owner``,
``status`` (draft, running, paused, stopped, concluded), ``coverage``, ``metrics`` (JSON:
a list of metric definitions), ``decision``, ``winner``; variants ``experiment_key``,
``variant_key``, ``name``, ``weight`` (a number: use ``decimal.handling.mode=double`` or
``string`` for ``numeric`` columns).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.experiments.values import Metric
from infrastructure.ingest.bus import Record
from infrastructure.ingest.wire import DEFAULT_LIMITS, InvalidMessage, Limits, load_bounded
from infrastructure.ingest.wire import _describe as describe_errors
from infrastructure.settings import KafkaSettings

EXPERIMENTS = "experiments"
VARIANTS = "variants"
Key = Field(min_length=1, max_length=256)


@dataclass(frozen=True, slots=True)
class ChangeFeed:
    """Which topics carry change events, and the operational tables' names."""

    topics: frozenset[str] = frozenset()
    experiments_table: str = "experiments"
    variants_table: str = "experiment_variants"

    @classmethod
    def from_settings(cls, settings: KafkaSettings) -> ChangeFeed:
        return cls(
            frozenset(settings.cdc_topics),
            settings.cdc_experiments_table,
            settings.cdc_variants_table,
        )


@dataclass(frozen=True, slots=True)
class RowChange:
    """One changed row: ``row`` is its new state (None when deleted)."""

    experiment_key: str
    table: str  # EXPERIMENTS or VARIANTS (the row's role, not the source table's name)
    row_key: str  # the experiment key, or the variant key
    operation: str
    row: dict[str, Any] | None
    source_position: int | None
    at: datetime
    event_id: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A compaction marker after a delete: nothing to apply."""

    event_id: str


class ExperimentRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = Key
    name: str = Key
    hypothesis: str = Field("", max_length=4000)
    description: str = Field("", max_length=20_000)
    tags: list[str] = Field(default_factory=list, max_length=100)
    owner: str = Field("", max_length=256)
    status: Literal["draft", "running", "paused", "stopped", "concluded"] = "draft"
    coverage: float | None = Field(None, gt=0, le=1)
    metrics: list[dict[str, Any]] | None = Field(None, max_length=100)
    decision: str | None = Field(None, max_length=32)
    winner: str | None = Field(None, max_length=256)

    @field_validator("hypothesis", "description", "owner", "status", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: Any) -> Any:
        return cls.model_fields[info.field_name].default if value is None else value

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> Any:
        metrics = json.loads(value) if isinstance(value, str) else value  # jsonb: text
        for metric in metrics if isinstance(metrics, list) else ():
            try:
                Metric.from_dict(metric)
            except (TypeError, ValueError, KeyError) as error:
                raise ValueError(f"not a metric definition {metric!r}: {error}") from None
        return metrics


class VariantRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    experiment_key: str = Key
    variant_key: str = Key
    name: str | None = Field(None, max_length=256)
    weight: float = Field(ge=0, le=1, allow_inf_nan=False)


class _Source(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    table: str = Key
    ts_ms: int
    db: str = ""
    schema_name: str = Field("", alias="schema")
    lsn: int | None = None
    snapshot: str | bool | None = None


class _Change(BaseModel):
    model_config = ConfigDict(extra="allow")

    op: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    source: _Source
    ts_ms: int | None = None


def decode_change(record: Record, feed: ChangeFeed, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The `RowChange` (or `Tombstone`) in one record; raises `InvalidMessage` for what
    cannot be mapped."""
    coordinates = f"{record.topic}:{record.partition}:{record.offset}"
    if record.value is None:
        return Tombstone(f"cdc:tombstone:{coordinates}")
    data = load_bounded(record.value, limits)
    if "payload" in data and "schema" in data:  # the JsonConverter's schema wrapper
        data = data["payload"]
        if data is None:
            return Tombstone(f"cdc:tombstone:{coordinates}")
        if not isinstance(data, dict):
            raise InvalidMessage("the change event's 'payload' is not an object", "schema")
    try:
        change = _Change.model_validate(data)
    except ValidationError as error:
        raise InvalidMessage(
            f"not a Debezium change event: {describe_errors(error)}", "schema"
        ) from None
    if change.op == "t":
        raise InvalidMessage(
            f"a TRUNCATE of {change.source.table!r} cannot be mapped: experiments keep their "
            "history; stop or conclude them instead",
            "rejected",
        )
    if change.op not in ("c", "u", "d", "r"):
        raise InvalidMessage(
            f"unknown change operation {change.op!r} (expected c, u, d, r)", "schema"
        )
    table = {feed.experiments_table: EXPERIMENTS, feed.variants_table: VARIANTS}.get(
        change.source.table
    )
    if table is None:
        raise InvalidMessage(
            f"changes of table {change.source.table!r} are not mapped (expected "
            f"{feed.experiments_table!r} or {feed.variants_table!r}; NEONBLUE_KAFKA_CDC_*_TABLE)",
            "rejected",
        )
    deleted = change.op == "d"
    image = change.before if deleted else change.after
    if image is None:
        which = "before" if deleted else "after"
        raise InvalidMessage(f"op {change.op!r} without its {which!r} row image", "schema")
    row = _row(table, image, deleted)
    experiment_key = row["key"] if table == EXPERIMENTS else row["experiment_key"]
    row_key = experiment_key if table == EXPERIMENTS else row["variant_key"]
    source = change.source
    position = source.lsn
    identity = f"{source.db}.{source.schema_name}.{source.table}:{experiment_key}/{row_key}"
    event_id = f"cdc:{identity}:{position}" if position is not None else f"cdc:{coordinates}"
    return RowChange(
        experiment_key,
        table,
        row_key,
        change.op,
        None if deleted else row,
        position,
        datetime.fromtimestamp(source.ts_ms / 1000, UTC),
        event_id,
        {"source": {"topic": record.topic, "partition": record.partition,
                    "offset": record.offset, "table": source.table, "lsn": position,
                    "snapshot": source.snapshot, "op": change.op}},
    )  # fmt: skip


def _row(table: str, image: dict[str, Any], deleted: bool) -> dict[str, Any]:
    """The validated row (only its primary key for a delete)."""
    if deleted:
        names = ("key",) if table == EXPERIMENTS else ("experiment_key", "variant_key")
        missing = [n for n in names if not isinstance(image.get(n), str) or not image[n]]
        if missing:
            raise InvalidMessage(
                f"a delete of a {table} row needs its key column(s) {', '.join(missing)} "
                "in 'before'",
                "schema",
            )
        return {n: image[n] for n in names}
    model = ExperimentRow if table == EXPERIMENTS else VariantRow
    try:
        return model.model_validate(image).model_dump()
    except (ValidationError, ValueError) as error:
        hint = ""
        if table == VARIANTS and isinstance(image.get("weight"), str):
            hint = " (a numeric column arrives base64-encoded: set the connector's decimal.handling.mode=double)"
        detail = describe_errors(error) if isinstance(error, ValidationError) else str(error)
        raise InvalidMessage(f"{table} row: {detail}{hint}", "schema") from None
