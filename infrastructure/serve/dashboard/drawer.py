"""Every experiment page's charts drawn once in the background, so its first opening is fast.

The warmer keeps the charts of opened pages fresh; `Drawer` draws the others, at the lowest
priority: in its own thread niced to 19, one experiment at a time, one chart at a time,
waiting while a dashboard request is being served, and resting as long as it drew (CPU
time) after each experiment: at most about half a core, only while something is left to draw.
Pages never drawn come first; a page drawn but not opened is redrawn only when its data
moved, and at most every `REDRAW` seconds (until then it shows its older charts with their
position, as after any new events). A page requested before its turn is drawn on demand.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("neonblue.dashboard")
REDRAW = 60.0  # seconds between two drawings of a page nobody opened
IDLE_WAIT = 30.0  # longest wait for requests to finish before drawing the next chart anyway


class Busy:
    """Dashboard requests in flight (the drawer waits for none)."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = threading.Condition()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        with self.idle:
            self.count += 1
        try:
            yield
        finally:
            with self.idle:
                self.count -= 1
                self.idle.notify_all()

    def wait_idle(self, timeout: float = IDLE_WAIT) -> None:
        with self.idle:
            self.idle.wait_for(lambda: self.count == 0, timeout)


class Drawer:
    """Runs ``draw(pause, rested, stopped)`` (it returns the seconds until a page falls due
    again, or None) when woken (after each warm pass), and again when a page falls due."""

    def __init__(
        self,
        draw: Callable[
            [Callable[[], None], Callable[[float], None], Callable[[], bool]], float | None
        ],
        busy: Busy,
        rest: float = 1.0,
    ) -> None:
        """``rest``: seconds of rest per CPU second of drawing, after each experiment."""
        self.draw = draw
        self.busy = busy
        self.rest = rest
        self.rounds = 0
        self.first_round_seconds: float | None = None  # wall time of the first round
        self.cpu_seconds = 0.0  # of every round, this thread's
        self._woken = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def wake(self) -> None:
        self._woken.set()

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="dashboard-drawer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._woken.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "first_round_seconds": self.first_round_seconds,
            "cpu_seconds": round(self.cpu_seconds, 3),
        }

    def pause(self) -> None:
        """Before each chart: wait until no request is being served."""
        self.busy.wait_idle()

    def rested(self, drew_seconds: float) -> None:
        """After each experiment: rest in proportion to the CPU time it took."""
        self._stop.wait(drew_seconds * self.rest)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # lowest priority, this thread only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        due: float | None = None
        while not self._stop.is_set():
            self._woken.wait(due)
            self._woken.clear()
            if self._stop.is_set():
                return
            cpu = time.thread_time()
            try:
                due = self.draw(self.pause, self.rested, self._stop.is_set)
            except Exception:  # the next wake retries
                log.exception("drawing the dashboard's charts failed")
                due = None
            self.cpu_seconds += time.thread_time() - cpu
            self.rounds += 1
            if self.first_round_seconds is None and not self._stop.is_set():
                self.first_round_seconds = time.monotonic() - self._started
