"""`audit export`: the raw event log as JSON lines, verifiable offline.

Each line holds the stored row exactly (``state`` is the stored JSON text, chain header
included) plus its recording time, so ``audit verify --export FILE`` can check the chain
and running hash of an export without access to the store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification

from infrastructure.audit.chain import split_state
from infrastructure.audit.verify import read_log


def recorded_at(notification: Notification) -> datetime | None:
    """The recording timestamp inside the stored state (None if unreadable)."""
    _, payload = split_state(notification.state)
    try:
        stamp = json.loads(payload).get("timestamp")
    except ValueError:
        return None
    if isinstance(stamp, dict):
        stamp = stamp.get("_data_")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def export_rows(
    recorder: ApplicationRecorder, since_position: int = 1, since_time: datetime | None = None
) -> Iterator[dict[str, object]]:
    """Log rows from ``since_position`` (and recorded at or after ``since_time``)."""
    for notification in read_log(recorder, since_position):
        stamp = recorded_at(notification)
        if since_time is not None and (stamp is None or stamp < since_time):
            continue
        row: dict[str, object] = {
            "position": notification.id,
            "originator_id": str(notification.originator_id),
            "originator_version": notification.originator_version,
            "topic": notification.topic,
            "recorded_at": stamp.isoformat() if stamp else None,
        }
        try:
            row["state"] = notification.state.decode("utf-8")
        except UnicodeDecodeError:  # not JSON text any more: keep the exact bytes
            row["state_base64"] = base64.b64encode(notification.state).decode()
        yield row


def write_jsonl(rows: Iterable[dict[str, object]], out: IO[str]) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def read_jsonl(lines: Iterable[str]) -> Iterator[Notification]:
    """Notifications back from an export (for offline verification)."""
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        yield Notification(
            id=int(row["position"]),
            originator_id=UUID(row["originator_id"]),
            originator_version=int(row["originator_version"]),
            topic=row["topic"],
            state=(
                row["state"].encode("utf-8")
                if "state" in row
                else base64.b64decode(row["state_base64"])
            ),
        )
