"""`audit verify`: walk the notification log, check every event's chain, and checkpoints.

Per event: the hash in its chain header must match its content (detects an altered state,
topic, originator id or version), and it must link to the previous version of its stream
(detects deleted, duplicated or reordered events within a stream). Across streams, the
per-log running hash ``running = sha256(running || position || event hash)`` over the
notification order is compared with signed checkpoints (see :mod:`.checkpoints`), which
detects deleted, inserted or reordered events anywhere before a checkpoint.

A walk may start inside the log (a partial `audit export`) from a `LogStart`: the running
hash and count of the log before it. Streams that began before the start are taken up at the
first event seen (its link backwards is covered only by checkpoints after the start, which
check the claimed running hash too); checkpoints before the start cannot be checked.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from eventsourcing.persistence import ApplicationRecorder, Notification

from infrastructure.audit.chain import GENESIS, Seal, event_hash, legacy_hash, split_state
from infrastructure.audit.checkpoints import Checkpoint

Kind = Literal["altered", "deleted", "reordered", "unchained", "checkpoint"]
PAGE_SIZE = 5000
MAX_FINDINGS = 100


@dataclass(frozen=True)
class Finding:
    """One problem found in the log, at a notification position."""

    position: int
    kind: Kind
    message: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class LogStart:
    """Where a walk starts: its first position, and the log before it (count, running hash)."""

    position: int
    events_before: int
    running_hash: bytes


@dataclass
class VerifyReport:
    """What a walk of the log found; ``ok`` when nothing."""

    events: int = 0
    last_position: int = 0
    running_hash: bytes = GENESIS
    checkpoints_checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    start: LogStart | None = None
    """Set for a walk that starts inside the log (``events`` counts the log before it too)."""
    checkpoints_before_start: int = 0
    checkpointed_to: int = 0
    """The position of the newest checkpoint checked (0: none)."""
    absent_positions: int = 0
    """Positions between the walk's first and last with no event: deleted events, or
    numbers the store skipped (PostgreSQL's sequence skips those of rolled-back inserts)."""
    first_absent: int = 0

    @property
    def checked(self) -> int:
        """Events this walk read (``events`` less those before its start)."""
        return self.events - (self.start.events_before if self.start else 0)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return min(self.findings, key=lambda f: f.position) if self.findings else None

    @property
    def events_per_second(self) -> float:
        return self.checked / self.seconds if self.seconds else 0.0


def read_log(recorder: ApplicationRecorder, start: int = 1) -> Iterator[Notification]:
    """Every notification from ``start``, in pages (gaps in positions are normal)."""
    position = start
    while True:
        page = recorder.select_notifications(start=position, limit=PAGE_SIZE)
        if not page:
            return
        yield from page
        position = page[-1].id + 1


class Verifier:
    """Walks notifications in order, keeping per-stream heads and the running hash."""

    def __init__(
        self, checkpoints: Sequence[Checkpoint] = (), start: LogStart | None = None
    ) -> None:
        self.report = VerifyReport(start=start)
        self._streams: dict[str, tuple[int, bytes, int]] = {}
        self._pending = sorted(checkpoints, key=lambda c: c.position)
        self._gaps: dict[tuple[str, int], tuple[int, int]] = {}
        if start is not None:
            self.report.events, self.report.running_hash = start.events_before, start.running_hash
            before = [c for c in self._pending if c.position < start.position]
            self.report.checkpoints_before_start = len(before)
            self._pending = self._pending[len(before) :]

    def feed(self, notifications: Iterable[Notification]) -> None:
        report = self.report
        streams = self._streams
        running = report.running_hash
        count = report.events
        sha256 = hashlib.sha256
        position = report.last_position or (report.start.position - 1 if report.start else 0)
        for n in notifications:
            if n.id > position + 1:
                report.absent_positions += n.id - position - 1
                report.first_absent = report.first_absent or position + 1
            position = n.id
            while self._pending and self._pending[0].position < position:
                report.running_hash, report.events = running, count
                self._check_checkpoint(self._pending.pop(0))
            oid, version = str(n.originator_id), n.originator_version
            seal, digest = sealed_hash(n)
            if seal is None:
                link = digest
                self._find(position, "unchained", f"{_who(n)} has no hash (stripped or pre-audit)")
            else:
                link = seal.hash
                if digest != seal.hash:
                    self._find(position, "altered", f"{_who(n)} does not match its hash")
            if self._check_link(n, oid, None if seal is None else seal.prev_hash, streams.get(oid)):
                streams[oid] = (version, link, position)
            running = sha256(running + position.to_bytes(8, "big") + digest).digest()
            count += 1
        report.running_hash, report.events = running, count
        report.last_position = max(report.last_position, position)

    def finish(self) -> VerifyReport:
        """Checks the checkpoints beyond the last event (a truncated log fails them)."""
        for checkpoint in self._pending:
            self._check_checkpoint(checkpoint)
        self._pending = []
        return self.report

    def _check_link(
        self,
        n: Notification,
        oid: str,
        prev_hash: bytes | None,
        head: tuple[int, bytes, int] | None,
    ) -> bool:
        """Checks the event against its stream's head; True when it becomes the new head."""
        version = n.originator_version
        if head is None:
            if version > 1 and self.report.start is not None:
                return True  # began before the start: its link backwards is not here to check
            if version > 1:
                self._gap(n, oid, 1, 0)
            elif prev_hash is not None and prev_hash != GENESIS:
                self._find(n.id, "altered", f"{_who(n)} does not start at the genesis hash")
            return True
        last_version, last_hash, last_position = head
        if version <= last_version:
            gap = self._gaps.pop((oid, version), None)
            if gap is None:
                self._find(
                    n.id,
                    "reordered",
                    f"{_who(n)} comes after version {last_version} (at position {last_position})",
                )
            else:  # the missing version turned up later: a reordering, not a deletion
                index, position = gap
                self.report.findings[index] = Finding(
                    position,
                    "reordered",
                    f"{_who(n)} is stored at position {n.id}, after later versions of its stream",
                )
            return False
        if version > last_version + 1:
            self._gap(n, oid, last_version + 1, last_position)
        elif prev_hash is not None and prev_hash != last_hash:
            self._find(
                n.id,
                "altered",
                f"{_who(n)} does not chain to version {last_version} stored before it",
            )
        return True

    def _gap(self, n: Notification, oid: str, first_missing: int, last_position: int) -> None:
        version = n.originator_version
        missing = f"{first_missing}" + (f"-{version - 1}" if version - 1 > first_missing else "")
        where = (
            f"stored between positions {last_position} and {n.id}"
            if last_position
            else (f"stored before position {n.id}")
        )
        if len(self.report.findings) < MAX_FINDINGS:
            for missing_version in range(first_missing, version):
                self._gaps[(oid, missing_version)] = (len(self.report.findings), n.id)
        self._find(n.id, "deleted", f"{_who(n)}: version(s) {missing}, {where}, are missing")

    def _check_checkpoint(self, checkpoint: Checkpoint) -> None:
        report = self.report
        report.checkpoints_checked += 1
        report.checkpointed_to = max(report.checkpointed_to, checkpoint.position)
        if (
            report.running_hash.hex() == checkpoint.running_hash
            and report.events == checkpoint.count
        ):
            return
        self._find(
            checkpoint.position,
            "checkpoint",
            f"the log up to position {checkpoint.position} differs from the checkpoint of "
            f"{checkpoint.created_at} ({report.events} events now, {checkpoint.count} then): "
            "events at or before it were deleted, inserted, reordered or altered",
        )

    def _find(self, position: int, kind: Kind, message: str) -> None:
        if len(self.report.findings) < MAX_FINDINGS:
            self.report.findings.append(Finding(position, kind, message))


def verify_log(
    recorder: ApplicationRecorder, checkpoints: Sequence[Checkpoint] = ()
) -> VerifyReport:
    """Walks the whole log; the report lists what was altered, deleted or reordered."""
    return verify_notifications(read_log(recorder), checkpoints)


def verify_notifications(
    notifications: Iterable[Notification],
    checkpoints: Sequence[Checkpoint] = (),
    start: LogStart | None = None,
) -> VerifyReport:
    """Verifies notifications in log order (from a store or an export)."""
    started = time.perf_counter()
    verifier = Verifier(checkpoints, start)
    verifier.feed(notifications)
    report = verifier.finish()
    report.seconds = time.perf_counter() - started
    return report


def sealed_hash(n: Notification) -> tuple[Seal | None, bytes]:
    """The event's seal (None if unchained) and its hash recomputed from its content."""
    seal, payload = split_state(n.state)
    if seal is None:
        return None, legacy_hash(n)
    return seal, event_hash(
        seal.prev_hash, str(n.originator_id), n.originator_version, n.topic, payload
    )


def running_hash(running: bytes, n: Notification) -> bytes:
    """The log's running hash after ``n`` (see the module docstring)."""
    return hashlib.sha256(running + n.id.to_bytes(8, "big") + sealed_hash(n)[1]).digest()


def _who(n: Notification) -> str:
    name = n.topic.rsplit(":", 1)[-1]
    return f"{name} v{n.originator_version} of {n.originator_id}"
