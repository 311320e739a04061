"""Debezium change events as the PostgreSQL connector writes them (JSON converter), for the
operational ``experiments`` and ``experiment_variants`` tables.

The shape follows Debezium's documentation of the PostgreSQL connector's data change
events: a value ``{"before", "after", "source", "op", "ts_ms", "transaction"}``, with
``source`` carrying ``version, connector, name, ts_ms, snapshot, db, sequence, schema,
table, txId, lsn, xmin``; with ``schemas.enable=true`` it is wrapped as ``{"schema": {...},
"payload": {...}}``; a delete is followed by a tombstone (a null value).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

EXPERIMENT_COLUMNS = [
    ("key", "string", False), ("name", "string", False), ("hypothesis", "string", True),
    ("description", "string", True), ("tags", "array", True), ("owner", "string", True),
    ("status", "string", False), ("coverage", "double", True), ("metrics", "string", True),
    ("decision", "string", True), ("winner", "string", True),
]  # fmt: skip
VARIANT_COLUMNS = [
    ("experiment_key", "string", False), ("variant_key", "string", False),
    ("name", "string", True), ("weight", "double", False),
]  # fmt: skip
TABLES = {"experiments": EXPERIMENT_COLUMNS, "experiment_variants": VARIANT_COLUMNS}
PRIMARY_KEYS = {"experiments": ("key",), "experiment_variants": ("experiment_key", "variant_key")}


def _row_schema(table: str, name: str) -> dict[str, Any]:
    fields = []
    for column, kind, optional in TABLES[table]:
        spec: dict[str, Any] = {"type": kind, "optional": optional, "field": column}
        if kind == "array":
            spec["items"] = {"type": "string", "optional": True}
        if column == "metrics":
            spec["name"] = "io.debezium.data.Json"
            spec["version"] = 1
        fields.append(spec)
    return {"type": "struct", "fields": fields, "optional": True,
            "name": f"operational.public.{table}.Value", "field": name}  # fmt: skip


def value_schema(table: str) -> dict[str, Any]:
    """The Kafka Connect schema of a change event's value (``schemas.enable=true``)."""
    source = {
        "type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source",
        "field": "source",
        "fields": [
            {"type": "string", "optional": False, "field": "version"},
            {"type": "string", "optional": False, "field": "connector"},
            {"type": "string", "optional": False, "field": "name"},
            {"type": "int64", "optional": False, "field": "ts_ms"},
            {"type": "string", "optional": True, "name": "io.debezium.data.Enum", "version": 1,
             "parameters": {"allowed": "true,last,false,incremental"}, "default": "false",
             "field": "snapshot"},
            {"type": "string", "optional": False, "field": "db"},
            {"type": "string", "optional": True, "field": "sequence"},
            {"type": "string", "optional": False, "field": "schema"},
            {"type": "string", "optional": False, "field": "table"},
            {"type": "int64", "optional": True, "field": "txId"},
            {"type": "int64", "optional": True, "field": "lsn"},
            {"type": "int64", "optional": True, "field": "xmin"},
        ],
    }  # fmt: skip
    return {
        "type": "struct",
        "fields": [
            _row_schema(table, "before"),
            _row_schema(table, "after"),
            source,
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
        ],
        "optional": False,
        "name": f"operational.public.{table}.Envelope",
        "version": 1,
    }


@dataclass
class Operational:
    """An operational database whose changes a Debezium connector publishes: every change
    advances the LSN and the commit time (``source.ts_ms``), like the WAL."""

    lsn: int = 24_023_000
    ts_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    tx_id: int = 555
    wrapped: bool = False
    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def _event(self, table: str, op: str, before: Any, after: Any, snapshot: str) -> dict[str, Any]:
        self.lsn += 136
        self.ts_ms += 1000
        self.tx_id += 1
        payload = {
            "before": before,
            "after": after,
            "source": {
                "version": "2.7.3.Final", "connector": "postgresql", "name": "operational",
                "ts_ms": self.ts_ms, "snapshot": snapshot, "db": "shop",
                "sequence": json.dumps([str(self.lsn - 136), str(self.lsn)]),
                "schema": "public", "table": table, "txId": self.tx_id, "lsn": self.lsn,
                "xmin": None,
            },
            "op": op,
            "ts_ms": self.ts_ms + 35,
            "transaction": None,
        }  # fmt: skip
        return {"schema": value_schema(table), "payload": payload} if self.wrapped else payload

    def _key(self, table: str, row: dict[str, Any]) -> tuple[str, str]:
        return table, "/".join(str(row[c]) for c in PRIMARY_KEYS[table])

    def insert(self, table: str, row: dict[str, Any], snapshot: bool = False) -> bytes:
        full = {column: row.get(column) for column, _, _ in TABLES[table]}
        self.rows[self._key(table, row)] = full
        op, flag = ("r", "true") if snapshot else ("c", "false")
        return encode(self._event(table, op, None, full, flag))

    def update(self, table: str, key_row: dict[str, Any], **changes: Any) -> bytes:
        key = self._key(table, key_row)
        before = self.rows[key]
        after = {**before, **changes}
        self.rows[key] = after
        # REPLICA IDENTITY DEFAULT: no "before" image on updates
        return encode(self._event(table, "u", None, after, "false"))

    def delete(self, table: str, key_row: dict[str, Any]) -> bytes:
        key = self._key(table, key_row)
        row = self.rows.pop(key)
        before = {c: (row[c] if c in PRIMARY_KEYS[table] else None) for c, _, _ in TABLES[table]}
        return encode(self._event(table, "d", before, None, "false"))

    def truncate(self, table: str) -> bytes:
        event = self._event(table, "t", None, None, "false")
        return encode(event)


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def experiment_row(key: str, status: str = "draft", **extra: Any) -> dict[str, Any]:
    return {
        "key": key, "name": extra.pop("name", f"Experiment {key}"),
        "hypothesis": "Green converts better", "description": None,
        "tags": ["checkout"], "owner": "growth", "status": status, "coverage": 1.0,
        "metrics": json.dumps([{"key": "conversion", "role": "primary", "kind": "binomial"}]),
        **extra,
    }  # fmt: skip


def variant_row(
    experiment: str, variant: str, weight: float, name: str | None = None
) -> dict[str, Any]:
    return {"experiment_key": experiment, "variant_key": variant, "name": name or variant.title(),
            "weight": weight}  # fmt: skip
