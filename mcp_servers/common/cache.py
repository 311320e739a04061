"""Answers of read-only tools, reused while nothing they were computed from has moved.

An answer depends on the tool's arguments, the event log (experiment definitions) and
the server's read model. The key holds the log head and the read model's position, read
*before* the tool runs, so a kept answer is used only while neither has moved: it is
never older than what running the tool again would return. Answers also expire after
``ttl_seconds``, because some depend on the clock (a running experiment's impact is
projected up to now). When the log or the read model moves, every kept answer is dropped
(none could be used again). Failures are never kept.

`neonblue serve` answers the same questions many times (the dashboard, several users, an
agent's follow-ups): a segment breakdown over every experiment or a forecast costs
hundreds of milliseconds, a kept answer a position lookup.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

Tool = TypeVar("Tool", bound=Callable[..., Any])


class AnswerCache:
    """Keeps tool answers per (tool, arguments) at one version of what they read."""

    def __init__(
        self, version: Callable[[], Hashable], ttl_seconds: float, max_entries: int = 256
    ) -> None:
        self.version = version  # e.g. (log head, read-model position); cheap to read
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self._at: Hashable = None
        self._lock = threading.Lock()  # tools run in worker threads
        self.hits = self.misses = 0

    def wrap(self, tool: Tool) -> Tool:
        """``tool`` answering from the cache when it can (the same signature, so the MCP SDK
        builds the same argument and output schemas); unchanged when the cache is off."""
        if self.ttl_seconds <= 0:
            return tool

        @functools.wraps(tool)
        def cached(*args: Any, **kwargs: Any) -> Any:
            version = self.version()
            key = (tool.__name__, repr(args), repr(sorted(kwargs.items())))
            now = time.monotonic()
            with self._lock:
                if version != self._at:
                    self._entries.clear()
                    self._at = version
                kept = self._entries.get(key)
                if kept is not None and kept[0] > now:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return kept[1]
                self.misses += 1
            answer = tool(*args, **kwargs)
            with self._lock:
                if self._at == version:  # nothing moved while the tool ran
                    self._entries[key] = (now + self.ttl_seconds, answer)
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            return answer

        return cached  # type: ignore[return-value]
