"""Dashboard answers per read-model position: a page never waits for a recomputation."""

from __future__ import annotations

import threading
import time

from infrastructure.serve.dashboard.views import PositionCache


def test_a_new_position_is_computed_in_the_background_while_the_last_answer_shows():
    cache = PositionCache()
    release = threading.Event()
    calls: list[int] = []

    def compute(position: int, wait: bool = False):
        def run() -> str:
            calls.append(position)
            if wait:
                release.wait(10)
            return f"at {position}"

        return run

    assert cache.latest(("page",), 5, compute(5)) == (5, "at 5")  # nothing yet: computed now
    assert cache.latest(("page",), 5, compute(5)) == (5, "at 5") and calls == [5]  # cached
    assert cache.latest(("page",), 9, compute(9, wait=True)) == (5, "at 5")  # at once
    assert cache.latest(("page",), 9, compute(9)) == (5, "at 5")  # one recomputation only
    release.set()
    deadline = time.monotonic() + 10
    while cache.latest(("page",), 9, compute(9)) != (9, "at 9"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert calls == [5, 9]
    assert cache.latest(("other",), 9, compute(9)) == (9, "at 9")  # kinds are apart
