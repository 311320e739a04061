"""Dead letters: what ingest could not use, with the original bytes and a readable reason.

A dead letter on `neonblue.dead_letter` is a JSON envelope (value) keyed like the original.
Delivery is at least once: a crash between producing a dead letter and committing the
batch's offsets produces it again on replay; (source topic, partition, offset) identifies it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from infrastructure.ingest.bus import Record


@dataclass(frozen=True)
class DeadLetter:
    source_topic: str
    source_partition: int
    source_offset: int
    kind: str  # not_json | schema | unknown_experiment | rejected
    reason: str
    key: bytes | None
    original: bytes | None
    dead_lettered_at: str

    @classmethod
    def of(cls, record: Record, kind: str, reason: str) -> DeadLetter:
        return cls(
            record.topic,
            record.partition,
            record.offset,
            kind,
            reason,
            record.key,
            record.value,
            datetime.now(UTC).isoformat(),
        )

    @property
    def coordinates(self) -> tuple[str, int, int]:
        return (self.source_topic, self.source_partition, self.source_offset)

    def encode(self) -> bytes:
        data: dict[str, Any] = asdict(self)
        data["key"] = _b64(self.key)
        data["original"] = _b64(self.original)
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> DeadLetter:
        data = json.loads(raw)
        data["key"] = _unb64(data["key"])
        data["original"] = _unb64(data["original"])
        return cls(**data)

    def original_text(self, limit: int = 120) -> str:
        if self.original is None:
            return "<no value>"
        text = self.original.decode("utf-8", errors="backslashreplace")
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
