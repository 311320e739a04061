"""What the event store says now, read incrementally: the experiments and recommendations.

The log grows with every exposure, so the dashboard never reads it whole per request: the
first call reads every experiment (and scans the log once for recommendations), later calls
read only the log past the previous call's head, re-read only the experiments that got new
events and add only the recommendations proposed since. (Notification ids are assigned in
commit order on both stores, as `NeonBlue.experiment_keys` relies on.)
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from domain.experiments.aggregate import Experiment, experiment_id

PAGE = 1000
RESCAN = 50_000  # further behind than this, reading every experiment again is cheaper


class Catalog:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.experiments: dict[str, Experiment] = {}
        self.experiments_read_to = 0
        self.recommendation_ids: list[UUID] = []
        self.recommendations_read_to = 0

    def definitions(self, head: int) -> list[Experiment]:
        """Every experiment as of (at least) ``head``, in creation order."""
        with self.lock:
            keys = self.app.experiment_keys()
            behind = head - self.experiments_read_to
            everything = not self.experiments or behind > RESCAN
            changed = set() if everything else self._originators(self.experiments_read_to, head)
            for key in keys:
                if everything or key not in self.experiments or experiment_id(key) in changed:
                    self.experiments[key] = self.app.experiment(key)
            self.experiments_read_to = max(self.experiments_read_to, head)
            return [self.experiments[key] for key in keys]

    def recommendations(self, head: int) -> list[UUID]:
        """Ids of every recommendation proposed up to ``head``, oldest first."""
        from eventsourcing.utils import get_topic

        from domain.intelligence.recommendation import Recommendation

        topic = get_topic(Recommendation.Proposed)
        with self.lock:
            if head > self.recommendations_read_to:
                start = self.recommendations_read_to + 1
                for entry in self.app.log(start=start, topics=[topic]):
                    if entry.position > head:
                        break
                    self.recommendation_ids.append(entry.originator_id)
                self.recommendations_read_to = head
            return list(self.recommendation_ids)

    def _originators(self, after: int, head: int) -> set[UUID]:
        """Aggregates with events in (after, head] (notifications only, nothing decoded)."""
        found: set[UUID] = set()
        position = after + 1
        while position <= head:
            page = self.app.recorder.select_notifications(start=position, limit=PAGE, stop=head)
            if not page:
                break
            found.update(n.originator_id for n in page)
            position = page[-1].id + 1
        return found
