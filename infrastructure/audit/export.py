"""`audit export`: the raw event log as JSON lines, verifiable offline.

The first line is a header: where the export starts in the log, and the count and running
hash of the log before that (see `verify.LogStart`). Each further line holds a stored row
exactly (``state`` is the stored JSON text, chain header included) plus its recording time,
so ``audit verify --export FILE`` can check the chains, and signed checkpoints after the
start, without access to the store. An export starts at a position, or at the first event
recorded at or after a time, and holds every event after it (no gaps to explain away).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import IO, Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification

from infrastructure.audit.chain import GENESIS, split_state
from infrastructure.audit.verify import Finding, LogStart, read_log, running_hash

HEADER_KEY = "neonblue_export"
FORMAT = 1


class ExportFormatError(ValueError):
    """A line of the file is not what `audit export` writes."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(
            f"line {line} is not an exported event ({reason}): is this an audit export?"
        )


def recorded_at(notification: Notification) -> datetime | None:
    """The recording timestamp inside the stored state (None if unreadable)."""
    _, payload = split_state(notification.state)
    try:
        stamp = json.loads(payload).get("timestamp")
    except ValueError:
        return None
    if isinstance(stamp, dict):
        stamp = stamp.get("_data_")
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:  # an altered state: its hash says so
        return None


def export_rows(
    recorder: ApplicationRecorder, since_position: int = 1, since_time: datetime | None = None
) -> Iterator[dict[str, object]]:
    """The header, then every row from ``since_position`` on (or from the first recorded at
    or after ``since_time``). The log before the start is read to compute its running hash."""
    events, running, last = 0, GENESIS, 0
    log = read_log(recorder)
    for notification in log:
        if notification.id >= since_position and _recorded_since(notification, since_time):
            yield _header(LogStart(notification.id, events, running))
            yield _row(notification)
            yield from map(_row, log)
            return
        events, running = events + 1, running_hash(running, notification)
        last = notification.id
    yield _header(LogStart(last + 1, events, running))  # nothing from the start on


def _recorded_since(notification: Notification, since: datetime | None) -> bool:
    if since is None:
        return True
    stamp = recorded_at(notification)
    return stamp is not None and stamp >= since


def _header(start: LogStart) -> dict[str, object]:
    return {
        HEADER_KEY: FORMAT,
        "from_position": start.position,
        "events_before": start.events_before,
        "running_hash_before": start.running_hash.hex(),
    }


def _row(notification: Notification) -> dict[str, object]:
    stamp = recorded_at(notification)
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
    return row


def write_jsonl(rows: Iterable[dict[str, object]], out: IO[str]) -> int:
    """Writes the rows; returns the number of events (the header is not one)."""
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += HEADER_KEY not in row
    return count


@dataclass
class Export:
    """An export read back: where it starts (None for an export without a header, which
    starts at the beginning of the log) and its events, read lazily."""

    start: LogStart | None
    notifications: Iterator[Notification]
    findings: list[Finding] = field(default_factory=list)
    """Rows whose recording time differs from the one in their state (filled as the
    notifications are read): the hashes do not cover that column, so it is checked here."""


def read_export(lines: Iterable[str]) -> Export:
    """An `audit export` file read back (for offline verification)."""
    rows = ((number, line) for number, line in enumerate(lines, 1) if line.strip())
    first = next(rows, None)
    findings: list[Finding] = []
    if first is None:
        return Export(None, iter(()))
    number, line = first
    head = _parse(number, line)
    if HEADER_KEY not in head:
        return Export(None, _notifications([(number, head)], rows, findings), findings)
    try:
        start = LogStart(
            int(head["from_position"]),
            int(head["events_before"]),
            bytes.fromhex(head["running_hash_before"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ExportFormatError(number, f"a damaged header: {error}") from None
    return Export(start, _notifications([], rows, findings), findings)


def _notifications(
    parsed: list[tuple[int, dict[str, Any]]],
    rows: Iterator[tuple[int, str]],
    findings: list[Finding],
) -> Iterator[Notification]:
    for number, row in chain(parsed, ((n, _parse(n, line)) for n, line in rows)):
        notification = _notification(number, row)
        stamp = row.get("recorded_at")
        if _written_time(notification) == stamp:
            yield notification
            continue
        actual = recorded_at(notification)  # parsed whole: the quick look may have missed it
        if stamp != (actual.isoformat() if actual else None):
            findings.append(Finding(
                notification.id, "altered",
                f"line {number}: its recorded_at {stamp!r} is not the time its event holds "
                f"({actual.isoformat() if actual else 'none'})",
            ))  # fmt: skip
        yield notification


_TIMESTAMP = re.compile(rb'"timestamp":\{"_type_":"datetime_iso","_data_":"([^"\\]*)"\}')


def _written_time(notification: Notification) -> str | None:
    """The recording time as the event's state spells it, found without parsing the state
    (verifying an export parses no event's JSON otherwise: a third of its time)."""
    found = _TIMESTAMP.search(notification.state)
    return found[1].decode() if found else None


def _parse(number: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except ValueError as error:
        raise ExportFormatError(number, f"not JSON: {error}") from None
    if not isinstance(row, dict):
        raise ExportFormatError(number, "not a JSON object")
    return row


def _notification(number: int, row: dict[str, Any]) -> Notification:
    try:
        return Notification(
            id=int(row["position"]),
            originator_id=UUID(row["originator_id"]),
            originator_version=int(row["originator_version"]),
            topic=row["topic"],
            state=(
                row["state"].encode("utf-8")
                if "state" in row
                else base64.b64decode(row["state_base64"], validate=True)
            ),
        )
    except KeyError as error:
        raise ExportFormatError(number, f"no {error}") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise ExportFormatError(number, str(error)) from None
