"""Dashboard answers computed ahead of the requests, the way GrowthBook and Eppo keep
result snapshots.

Each answer (an experiment's scorecard for one engine with CUPED on or off, its lift charts
for one engine, its traffic charts, its segments) is stored with the analytics position it
reflects. `Warmer` recomputes them in the background when the follower moved that position
(debounced: a burst of batches gives one pass) and once at start-up. A page reads the newest
answer with its position and never waits for a recomputation once one exists; only an
answer nobody computed yet (a new experiment before the next pass) is computed in the
request, or waited for when a pass is computing it. The last pass is kept in a JSON file in
the data directory, so after a restart the pages show it at once, with its position, while
the first pass runs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

log = logging.getLogger("neonblue.dashboard")
FORMAT = 1  # of the snapshot file; another value (an older serve) is ignored
FILE = "dashboard-snapshots.json"
WAIT = 60.0  # seconds a request waits for an answer a pass is computing

What = tuple[Hashable, ...]


class Snapshots:
    """Answers keyed by what they show, each the newest one with its position."""

    def __init__(self, path: Path | None = None, size: int = 4096, store: str = "") -> None:
        """``store``: the event store's identity, written with the answers; a file written
        for another store is not read."""
        self.path = path
        self.store = store
        self.size = size
        self.values: OrderedDict[What, tuple[int, Any]] = OrderedDict()
        self.running: dict[What, threading.Event] = {}
        self.lock = threading.Lock()
        self.saved_at = 0  # number of stores when last saved
        self.saving = threading.Lock()  # the warmer and the drawer both save
        self.stores = 0

    def latest(self, what: What, position: int, compute: Callable[[], Any]) -> tuple[int, Any]:
        """(position, answer): at ``position``, or the newest earlier one at once (while it
        is recomputed in the background); computed here only when there is none yet."""
        with self.lock:
            found = self.values.get(what)
            if found is not None:
                self.values.move_to_end(what)
                stale = found[0] < position and what not in self.running
                if stale:
                    self.running[what] = threading.Event()
        if found is None:
            return self.refresh(what, position, compute)
        if stale:
            threading.Thread(
                target=self._background, args=(what, position, compute), daemon=True
            ).start()
        return found

    def refresh(self, what: What, position: int, compute: Callable[[], Any]) -> tuple[int, Any]:
        """The answer at ``position`` (or newer), computed unless it is there; when another
        thread is computing it, waits for that instead of computing it twice."""
        with self.lock:
            found = self.values.get(what)
            if found is not None and found[0] >= position:
                return found
            other = self.running.get(what)
            if other is None:
                mine = self.running[what] = threading.Event()
        if other is not None:
            other.wait(WAIT)
            with self.lock:
                found = self.values.get(what)
            if found is not None and found[0] >= position:
                return found
            return self.put(what, position, compute())  # that computation failed
        try:
            return self.put(what, position, compute())
        finally:
            with self.lock:
                self.running.pop(what, None)
            mine.set()

    def put(self, what: What, position: int, value: Any) -> tuple[int, Any]:
        """Stores ``value`` as the answer at ``position`` unless a newer one is there."""
        with self.lock:
            found = self.values.get(what)
            if found is not None and found[0] > position:
                return found
            self.values[what] = (position, value)
            self.values.move_to_end(what)
            self.stores += 1
            while len(self.values) > self.size:
                self.values.popitem(last=False)
        return position, value

    def position(self, what: What) -> int | None:
        found = self.values.get(what)
        return None if found is None else found[0]

    def _background(self, what: What, position: int, compute: Callable[[], Any]) -> None:
        event = self.running[what]
        try:
            self.put(what, position, compute())
        except Exception:  # the next request or pass computes it again
            log.exception("recomputing %s failed", what)
        finally:
            with self.lock:
                self.running.pop(what, None)
            event.set()

    # -- the file -----------------------------------------------------------------------------

    def save(self) -> None:
        """Writes the answers whose keys are plain values (atomically; only after changes)."""
        if self.path is None:
            return
        with self.saving:
            self._save(self.path)

    def _save(self, path: Path) -> None:
        if self.stores == self.saved_at:
            return
        with self.lock:
            stores = self.stores
            items = [
                [list(what), position, value]
                for what, (position, value) in self.values.items()
                if all(isinstance(part, str | bool | int) for part in what)
            ]
        partial = path.with_name(path.name + ".partial")
        data = {"format": FORMAT, "store": self.store, "answers": items}
        partial.write_text(json.dumps(data, default=str))
        os.replace(partial, path)
        self.saved_at = stores

    def load(self, head: int) -> int:
        """Reads the file of an earlier run on the same store; returns how many answers it
        held. A file from another store, or with answers past the log's ``head`` (a memory
        store, or a log replaced since), is not read."""
        if self.path is None:
            return 0
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return 0
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return 0
        answers = data.get("answers", [])
        if data.get("store") != self.store or any(int(a[1]) > head for a in answers):
            return 0
        for what, position, value in answers:
            self.put(tuple(what), int(position), value)
        self.saved_at = self.stores
        return len(answers)


class Warmer:
    """Runs ``warm`` once at start and after the analytics position moved: when it has been
    still for ``quiet`` seconds, or ``longest`` seconds after it first moved. ``warm`` is
    given a function telling it to stop early (serve is stopping)."""

    def __init__(
        self,
        warm: Callable[[Callable[[], bool]], None],
        snapshots: Snapshots,
        quiet: float = 0.5,
        longest: float = 5.0,
        catching_up: Callable[[], bool] = lambda: False,
        longest_catching_up: float = 60.0,
    ) -> None:
        """``catching_up``: whether the follower is still far behind the log (then a pass
        runs at most every ``longest_catching_up`` seconds: its answers would be stale at
        once, and it would slow the catch-up)."""
        self.warm = warm
        self.snapshots = snapshots
        self.quiet = quiet
        self.longest = longest
        self.catching_up = catching_up
        self.longest_catching_up = longest_catching_up
        self.passes = 0
        self.after_pass: Callable[[], None] = lambda: None  # serve: wakes the drawer
        self.last_pass_seconds: float | None = None
        self._moved = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def moved(self, name: str, _position: int) -> None:
        """The follower's listener: a projection advanced."""
        if name == "analytics":
            self._moved.set()

    def nudge(self) -> None:
        """Asks for a pass although the position did not move (a page opened for the first
        time: its other engines' charts are computed then)."""
        self._moved.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dashboard-warmer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._moved.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def as_dict(self) -> dict[str, Any]:
        """What /health reports: passes done, how long the last took, answers held."""
        return {
            "passes": self.passes,
            "last_pass_seconds": self.last_pass_seconds,
            "answers": len(self.snapshots.values),
        }

    def _run(self) -> None:
        self._pass()
        while not self._stop.is_set():
            self._moved.wait()
            first = time.monotonic()
            while not self._stop.is_set():  # debounce
                self._moved.clear()
                if self._stop.wait(self.quiet):
                    return
                longest = self.longest_catching_up if self.catching_up() else self.longest
                if not self._moved.is_set() or time.monotonic() - first >= longest:
                    break
            self._moved.clear()
            self._pass()

    def _pass(self) -> None:
        started = time.perf_counter()
        try:
            self.warm(self._stop.is_set)
            self.snapshots.save()
        except Exception:  # a failed pass must not end the thread: the next move retries
            log.exception("warming the dashboard failed")
        self.passes += 1
        self.last_pass_seconds = time.perf_counter() - started
        self.after_pass()
