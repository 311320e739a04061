"""The state of an experiment as it was at a past time, from the event log alone.

``replay(app, key, as_of=T)`` folds every event recorded at or before ``T`` (the events'
own recording timestamps; no read model, no snapshot): the experiment aggregate,
enrolment and exposure counts per variant, the sufficient statistics and the statistics
engine's scorecard. ``stop=POSITION`` bounds the replay by log position instead (used to
recompute a recorded analysis). The sufficient statistics are computed by the same
function as the live answer (:func:`infrastructure.log_statistics.variant_sums`), fed
with the log as it stood then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from domain.analysis import Scorecard, VariantSums, build_scorecard
from domain.audit import AnalysisSettings, summarize
from domain.experiments.aggregate import Experiment, experiment_id
from domain.experiments.errors import ExperimentNotFound
from domain.participation.aggregate import Participation
from infrastructure.application import LoggedEvent, NeonBlue
from infrastructure.log_statistics import variant_sums


@dataclass
class Replay:
    """What the log said about one experiment up to a time or position."""

    experiment: Experiment
    as_of: datetime | None
    position: int  # the last log position included (0: none)
    enrolled: Counter[str] = field(default_factory=Counter)
    exposed: Counter[str] = field(default_factory=Counter)
    sums: dict[str, VariantSums] = field(default_factory=dict)
    scorecard: Scorecard | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the CLI prints it with --json)."""
        experiment = self.experiment
        return {
            "experiment": experiment.key,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "position": self.position,
            "status": str(experiment.status),
            "version": experiment.version,
            "variants": {v.key: v.weight for v in experiment.variants},
            "coverage": experiment.coverage,
            "enrolled": dict(self.enrolled),
            "exposed": dict(self.exposed),
            "sums": {
                variant: {
                    "users": s.users,
                    "sums": dict(s.sums),
                    "sums_of_squares": dict(s.sums_of_squares),
                }
                for variant, s in sorted(self.sums.items())
            },
            "scorecard": summarize(self.scorecard) if self.scorecard else None,
        }


class _LogAsOf:
    """The application's log cut at a time/position, folding the experiment on the way.

    It offers the two parts of :class:`NeonBlue` that ``variant_sums`` uses (``log`` and
    ``experiment``), so the replayed sums come from the very code of the live answer.
    """

    def __init__(self, app: NeonBlue, key: str, as_of: datetime | None, stop: int | None) -> None:
        self.app, self.key, self.as_of, self.stop = app, key, as_of, stop
        self.experiment_id = experiment_id(key)
        self.folded: Experiment | None = None
        self.position = 0
        self.enrolled: Counter[str] = Counter()
        self.exposed: Counter[str] = Counter()
        self._members: dict[Any, str] = {}
        self._seen_exposed: set[Any] = set()

    def log(self) -> Iterator[LoggedEvent]:
        for entry in self.app.log():
            if self.stop is not None and entry.position > self.stop:
                return
            if self.as_of is not None and entry.event.timestamp > self.as_of:
                continue  # concurrent writers: timestamps are not sorted by position
            self.position = entry.position
            self._observe(entry)
            yield entry

    def experiment(self, key: str) -> Experiment:
        if self.folded is None:
            raise ExperimentNotFound(f"Experiment {key!r} did not exist yet at that point.")
        return self.folded

    def _observe(self, entry: LoggedEvent) -> None:
        event: Any = entry.event
        oid = entry.originator_id
        if oid == self.experiment_id:
            self.folded = event.mutate(self.folded)
        elif isinstance(event, Participation.Enrolled) and event.experiment_key == self.key:
            variant = event.variant or "(none)"
            self._members[oid] = variant
            self.enrolled[variant] += 1
        elif (
            isinstance(event, Participation.Exposed)
            and oid in self._members
            and oid not in self._seen_exposed
        ):
            self._seen_exposed.add(oid)
            self.exposed[self._members[oid]] += 1


def replay(
    app: NeonBlue,
    key: str,
    as_of: datetime | None = None,
    stop: int | None = None,
    settings: AnalysisSettings | None = None,
) -> Replay:
    """The experiment ``key`` as of ``as_of`` (recording time) and/or log position ``stop``."""
    app.experiment(key)  # a clear error for a key that never existed
    view = _LogAsOf(app, key, as_of, stop)
    sums = variant_sums(cast(NeonBlue, view), key).get(key, {})
    if view.folded is None:
        when = f"by {as_of.isoformat()}" if as_of else f"by position {stop}"
        raise ExperimentNotFound(
            f"Experiment {key!r} was not yet recorded {when}; pick a later time."
        )
    result = Replay(view.folded, as_of, view.position, view.enrolled, view.exposed, sums)
    if len(view.folded.variants) >= 2:
        settings = settings or AnalysisSettings()
        result.scorecard = build_scorecard(
            view.folded, sums, settings.options(), settings.cuped, settings.correction
        )
    return result
