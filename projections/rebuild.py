"""Rebuilding a read model into a fresh copy while the live one keeps serving.

The copy is caught up from position 0 (ingest may keep appending), then caught up again
until it reaches the head; with ``verify`` the live model is brought to the same
position and the two are compared table by table; finally the model switches readers
to the copy atomically and drops the old one (and any other leftovers) afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from projections.generations import Generation, crash_point
from projections.log import LogReader
from projections.runner import DEFAULT_BATCH, Progress, Projection, ProjectionRunner


class Rebuildable(Protocol):
    """A read model that can hand out its live projection and a fresh copy."""

    name: str

    def projection(self) -> Projection: ...

    def fresh_copy(self) -> Projection: ...

    def switch(self, projection: Projection) -> str:
        """Makes the copy live atomically, then collects leftovers."""

    def generations(self) -> list[Generation]:
        """The live generation, copies being built and leftovers, with sizes."""

    def collect(self, force: bool = False) -> list[Generation]:
        """Removes leftovers (``force``: copies being built too); returns them."""


@dataclass
class RebuildReport:
    name: str
    position: int
    events: int
    differences: dict[str, tuple[str, str]] = field(default_factory=dict)
    verified: bool = False


def rebuild(
    reader: LogReader,
    model: Rebuildable,
    batch_size: int = DEFAULT_BATCH,
    verify: bool = False,
    progress: Progress | None = None,
) -> RebuildReport:
    """Builds a fresh copy of ``model`` from the whole log and switches to it."""
    fresh = model.fresh_copy()
    runner = ProjectionRunner(reader, fresh, batch_size)
    events = runner.catch_up(progress=progress)
    # Ingest kept running: take what arrived meanwhile. Batches of at least the default
    # size, so that a small --batch-size cannot leave the copy chasing the head forever.
    runner.batch_size = max(batch_size, DEFAULT_BATCH)
    while step := runner.run_batch():
        events += step
        if progress is not None:
            progress(fresh.position(), reader.head())
    crash_point(model.name, "built")
    report = RebuildReport(model.name, fresh.position(), events)
    if verify:
        live = model.projection()
        ProjectionRunner(reader, live, batch_size).catch_up(until=fresh.position())
        ProjectionRunner(reader, fresh, batch_size).catch_up(until=live.position())
        old, new = live.checksum(), fresh.checksum()
        report.verified = True
        report.differences = {
            table: (old.get(table, ""), new.get(table, ""))
            for table in sorted(set(old) | set(new))
            if old.get(table) != new.get(table)
        }
    model.switch(fresh)
    return report
