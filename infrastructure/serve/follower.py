"""Every projection following the log in one thread of `serve`.

Projections take turns a batch at a time (so all of them advance, and a stop request is
seen within one batch); each batch commits its rows with its position, so a kill at any
moment loses and duplicates nothing. Only this thread touches the projections' writing
connections: others read the positions it publishes, and listeners hear of each batch (the
dashboard recomputes its answers when the analytics model moved). A rebuild asked for from
the dashboard runs here too, a batch per turn like the others: a fresh copy fills from
position 0 while the live one keeps following the log, then replaces it when it reached the
head (`projections.rebuild` does the same for the CLI when serve is not running).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from projections.models import ReadModels
from projections.runner import DEFAULT_BATCH, Projection, ProjectionRunner, ProjectionStatus

log = logging.getLogger("neonblue.serve")
REOPEN_SECONDS = 2.0
"""How often a model that could not be opened is tried again."""


@dataclass
class FollowerMetrics:
    """What the follower reports (prometheus collectors, or nothing)."""

    position: object | None = None  # Gauge(projection)
    events: object | None = None  # Counter(projection)
    errors: object | None = None  # Counter(projection)
    head: object | None = None  # Gauge()


class RebuildRefused(ValueError):
    """A rebuild that cannot start (unknown projection, or one already running)."""


@dataclass
class Rebuild:
    """Progress of one rebuild, as the operations page shows it."""

    name: str
    state: str = "queued"  # queued | building | done | failed
    position: int = 0
    head: int = 0
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    error: str = ""
    copy: Projection | None = None

    @property
    def percent(self) -> float:
        if self.state == "done":
            return 100.0
        return 100.0 * min(self.position, self.head) / self.head if self.head else 0.0

    @property
    def running(self) -> bool:
        return self.state in ("queued", "building")


@dataclass
class ProjectionFollower:
    models: ReadModels
    names: Sequence[str]
    poll_seconds: float = 0.2
    batch_size: int = DEFAULT_BATCH
    metrics: FollowerMetrics = field(default_factory=FollowerMetrics)
    positions: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    listeners: list[Callable[[str, int], None]] = field(default_factory=list)
    rebuilds: dict[str, Rebuild] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _reopen_at: float = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="projections", daemon=True)
        self._thread.start()
        self._ready.wait(60)

    def stop(self, timeout: float = 60.0) -> None:
        """Asks the thread to stop after its current batch and waits for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def statuses(self) -> list[ProjectionStatus]:
        reader = self.models.reader
        head = reader.head()
        found = []
        for name in self.names:
            position = self.positions.get(name, 0)
            waiting = reader.timestamp_after(position) if position < head else None
            lag = 0.0 if waiting is None else max(0.0, time.time() - waiting.timestamp())
            found.append(ProjectionStatus(name, position, head, max(0, head - position), lag))
        return found

    def rebuild(self, name: str) -> Rebuild:
        """Asks this thread to rebuild ``name`` into a fresh copy (see the module text)."""
        if name not in self.names:
            raise RebuildRefused(
                f"No projection named {name!r}; choose from {', '.join(self.names)}."
            )
        found = self.rebuilds.get(name)
        if found is not None and found.running:
            raise RebuildRefused(f"{name} is already being rebuilt ({found.percent:.0f}%).")
        self.rebuilds[name] = Rebuild(name, head=self.models.reader.head())
        return self.rebuilds[name]

    def behind(self, events: int) -> bool:
        """Whether some projection is more than ``events`` behind the log head."""
        head = self.models.reader.head()
        return any(head - self.positions.get(name, 0) > events for name in self.names)

    def caught_up(self) -> bool:
        head = self.models.reader.head()
        return all(self.positions.get(name, 0) >= head for name in self.names)

    def _open(self, runners: dict[str, ProjectionRunner]) -> None:
        """Runners for the models not open yet (one another process holds, a server that
        is down): tried at start, then again every `REOPEN_SECONDS`."""
        self._reopen_at = time.monotonic() + REOPEN_SECONDS
        for name in self.names:
            if name in runners:
                continue
            try:
                runner = self.models.runner(name, self.batch_size)
                self.positions[name] = runner.projection.position()
                runners[name] = runner
                self.errors.pop(name, None)
            except Exception as error:  # a model that cannot open must not stop the others
                self._failed(name, error, wait=False)

    def _run(self) -> None:
        runners: dict[str, ProjectionRunner] = {}
        self._open(runners)
        self._ready.set()
        while not self._stop.is_set():
            if len(runners) < len(self.names) and time.monotonic() >= self._reopen_at:
                self._open(runners)
            advanced = 0
            head = self.models.reader.head()
            if self.metrics.head is not None:
                self.metrics.head.set(head)  # type: ignore[attr-defined]
            for rebuild in [r for r in self.rebuilds.values() if r.running]:
                if self._stop.is_set():
                    break
                advanced += self._rebuild_batch(rebuild, runners, head)
            for name, runner in runners.items():
                if self._stop.is_set():
                    break
                if self.positions.get(name, 0) >= head:  # serve alone moves its models: an
                    continue  # idle serve reads no model's position (five times a second)
                try:
                    step = runner.run_batch(head)
                except Exception as error:
                    self._failed(name, error)
                    continue
                self.errors.pop(name, None)
                if step:
                    advanced += step
                    self.positions[name] = runner.projection.position()
                    self._report(name, step)
                    for listener in self.listeners:
                        listener(name, self.positions[name])
            if advanced == 0:
                self._stop.wait(self.poll_seconds)

    def _rebuild_batch(
        self, rebuild: Rebuild, runners: dict[str, ProjectionRunner], head: int
    ) -> int:
        """One batch into the copy; the switch once it reached ``head``."""
        model = self.models.model(rebuild.name)
        try:
            if rebuild.copy is None:
                rebuild.copy = model.fresh_copy()
                rebuild.state = "building"
            step = ProjectionRunner(self.models.reader, rebuild.copy, self.batch_size).run_batch(
                head
            )
            rebuild.position, rebuild.head = rebuild.copy.position(), head
            if step == 0 and rebuild.position >= head:
                model.switch(rebuild.copy)
                self.models.switched(rebuild.name)
                runners[rebuild.name] = self.models.runner(rebuild.name, self.batch_size)
                self.positions[rebuild.name] = runners[rebuild.name].projection.position()
                rebuild.state, rebuild.finished, rebuild.copy = "done", datetime.now(UTC), None
                log.info("rebuilt %s up to position %s", rebuild.name, rebuild.position)
            return step
        except Exception as error:  # the live copy keeps serving; the copy is a leftover
            rebuild.state, rebuild.finished, rebuild.copy = "failed", datetime.now(UTC), None
            rebuild.error = f"{type(error).__name__}: {error}"[:500]
            log.error("rebuilding %s failed: %s", rebuild.name, rebuild.error)
            return 0

    def _report(self, name: str, step: int) -> None:
        if self.metrics.position is not None:
            self.metrics.position.labels(name).set(self.positions[name])  # type: ignore[attr-defined]
        if self.metrics.events is not None:
            self.metrics.events.labels(name).inc(step)  # type: ignore[attr-defined]

    def _failed(self, name: str, error: Exception, wait: bool = True) -> None:
        message = f"{type(error).__name__}: {error}"
        if self.errors.get(name) != message:
            log.error("projection %s failed: %s (retrying)", name, message)
        self.errors[name] = message
        if self.metrics.errors is not None:
            self.metrics.errors.labels(name).inc()  # type: ignore[attr-defined]
        if wait:
            self._stop.wait(1.0)  # back off before the next attempt
