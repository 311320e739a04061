"""Concurrent catch-ups of one runner (tool calls of one question run in threads) apply
every event exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence

from infrastructure.application import NeonBlue
from projections.log import LogEvent, LogReader
from projections.runner import ProjectionRunner
from tests.projections.scenario import create_experiments


class Counting:
    """A projection that counts how often each position is applied (slowly, so that two
    unserialised catch-ups would overlap)."""

    name = "counting"
    topics: Sequence[str] = ()

    def __init__(self) -> None:
        self.applied: Counter[int] = Counter()
        self._position = 0

    def setup(self) -> None: ...

    def position(self) -> int:
        return self._position

    def process(self, events: Sequence[LogEvent], position: int) -> None:
        time.sleep(0.05)
        self.applied.update(e.position for e in events)
        self._position = position

    def checksum(self) -> dict[str, str]:
        return {}


def test_concurrent_catch_ups_apply_each_event_once(app: NeonBlue):
    create_experiments(app)
    runner = ProjectionRunner(LogReader(app), Counting(), batch_size=2)
    threads = [threading.Thread(target=runner.catch_up) for _ in range(4)]
    threads += [threading.Thread(target=runner.run_batch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    applied = runner.projection.applied
    assert applied and set(applied.values()) == {1}
    assert runner.projection.position() == app.head()
