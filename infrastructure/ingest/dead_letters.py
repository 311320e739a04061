"""Dead letters: what ingest could not use, with the original bytes and a readable reason.

Every dead letter is first a row of the event store's dead-letter table, written in the
same transaction as the batch's events and consumed offsets: a message is dead-lettered
exactly once, whatever crashes (``(source topic, partition, offset)`` is the row's key),
and the row holds the full original bytes. It is then published to `neonblue.dead_letter`
as a JSON envelope keyed like the original. An envelope must fit the broker's message size
(``NEONBLUE_KAFKA_MAX_MESSAGE_BYTES``): a larger original keeps a prefix on the topic
(``truncated``), with its length and SHA-256, while the table keeps all of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from infrastructure.ingest.bus import Record

REASON_LIMIT = 1000
KEY_LIMIT = 1024
RECORD_OVERHEAD = 1024  # headers and framing the broker counts in a message's size


@dataclass(frozen=True)
class DeadLetter:
    source_topic: str
    source_partition: int
    source_offset: int
    kind: str  # not_json | too_large | too_deep | schema | unknown_experiment | rejected | unprocessable
    reason: str
    key: bytes | None
    original: bytes | None
    dead_lettered_at: str
    original_length: int = 0
    original_sha256: str = ""
    truncated: bool = False  # ``original`` is a prefix; the event store's table has it all

    @classmethod
    def of(cls, record: Record, kind: str, reason: str) -> DeadLetter:
        value = record.value
        return cls(
            record.topic,
            record.partition,
            record.offset,
            kind,
            bounded_reason(reason),
            record.key,
            value,
            datetime.now(UTC).isoformat(),
            len(value or b""),
            "" if value is None else hashlib.sha256(value).hexdigest(),
        )

    @classmethod
    def of_error(cls, record: Record, error: BaseException) -> DeadLetter:
        """A message whose processing raised ``error`` (not a validation or domain error)."""
        return cls.of(record, "unprocessable", f"{type(error).__name__}: {error}")

    @property
    def coordinates(self) -> tuple[str, int, int]:
        return (self.source_topic, self.source_partition, self.source_offset)

    def message(self, max_bytes: int = 1_000_000) -> tuple[bytes | None, bytes]:
        """The Kafka key and envelope, together at most ``max_bytes`` long: a long key or
        original is cut to a prefix (``truncated``); length and SHA-256 stay whole."""
        letter = self
        if self.key is not None and len(self.key) > KEY_LIMIT:
            letter = replace(letter, key=self.key[:KEY_LIMIT], truncated=True)
        skeleton = replace(letter, original=None, truncated=True).encode()
        room = (max_bytes - RECORD_OVERHEAD - len(letter.key or b"") - len(skeleton)) // 4 * 3
        if self.original is not None and len(self.original) > room:
            letter = replace(letter, original=self.original[: max(room, 0)], truncated=True)
        return letter.key, letter.encode()

    def encode(self) -> bytes:
        data: dict[str, Any] = asdict(self)
        data["key"] = _b64(self.key)
        data["original"] = _b64(self.original)
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> DeadLetter:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in json.loads(raw).items() if k in known}
        data["key"] = _unb64(data["key"])
        data["original"] = _unb64(data["original"])
        return cls(**data)

    def original_text(self, limit: int = 120) -> str:
        if self.original is None:
            return "<no value>"
        text = self.original[: limit * 4].decode("utf-8", errors="backslashreplace")
        return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded_reason(reason: str) -> str:
    """One readable line of at most `REASON_LIMIT` characters (no NUL: Postgres text)."""
    text = " ".join(reason.replace("\x00", "\\x00").split())
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
