"""The state of an experiment as it was at a past time, from the event log alone.

Two clocks cut the log, and every answer names which one it used:

- ``as_of`` is *recording* time: what the platform knew then (the events' own recording
  timestamps, as stored).
- ``occurred_by`` is *event* time: what had happened by then. Lifecycle and participation
  events carry the time they happened (``at``); an event without one (a definition, a
  traffic change, a note, a conclusion) counts from when it was recorded, or from the
  next timed event of its experiment when that happened earlier (an experiment defined
  and started on 11-18 but loaded on 12-02 had been defined by 11-18).

``replay(app, key, as_of=T)`` folds every event recorded at or before ``T`` (no read
model, no snapshot): the experiment aggregate,
enrolment and exposure counts per variant, the sufficient statistics and the statistics
engine's scorecard. ``stop=POSITION`` bounds the replay by log position instead (used to
recompute a recorded analysis). The sufficient statistics are computed by the same
function as the live answer (:func:`infrastructure.log_statistics.variant_sums`), fed
with the log as it stood then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from domain.analysis import Scorecard, VariantSums, build_scorecard
from domain.audit import AnalysisSettings, summarize
from domain.experiments.aggregate import Experiment, experiment_id
from domain.experiments.errors import ExperimentNotFound
from domain.participation.aggregate import Participation
from infrastructure.application import LoggedEvent, NeonBlue
from infrastructure.log_statistics import variant_sums


def event_time(event: Any) -> datetime | None:
    """When ``event`` happened, if it says so (its ``at``); None for untimed events."""
    at = getattr(event, "at", None)
    return _aware(at) if isinstance(at, datetime) else None


def effective_times(events: Sequence[Any]) -> list[datetime]:
    """When each of one aggregate's events (in version order) had happened, in event time."""
    times: list[datetime] = []
    following: datetime | None = None
    for event in reversed(events):
        own = event_time(event)
        if own is not None:
            following = own
            times.append(own)
        else:
            recorded = _aware(event.timestamp)
            times.append(recorded if following is None else min(recorded, following))
    return times[::-1]


def happened_by(events: Sequence[Any], occurred_by: datetime | None) -> list[Any]:
    """The events of one aggregate that had happened by ``occurred_by`` (a prefix: the
    first event after the cut ends it, so the fold stays a valid history)."""
    if occurred_by is None:
        return list(events)
    cut = _aware(occurred_by)
    kept = []
    for event, when in zip(events, effective_times(events), strict=True):
        if when > cut:
            break
        kept.append(event)
    return kept


def describe_cut(
    as_of: datetime | None, occurred_by: datetime | None, position: int | None = None
) -> str:
    """Which clock(s) cut an answer, in words."""
    parts = []
    if as_of is not None:
        parts.append(f"recorded by {as_of.isoformat()} (recording time: what the platform knew)")
    if occurred_by is not None:
        parts.append(f"happened by {occurred_by.isoformat()} (event time: what had happened)")
    if position is not None:
        parts.append(f"up to log position {position}")
    return "; ".join(parts) or "everything recorded so far (no cut)"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Replay:
    """What the log said about one experiment up to a time or position."""

    experiment: Experiment
    as_of: datetime | None
    position: int  # the last log position included (0: none)
    occurred_by: datetime | None = None
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
            "occurred_by": self.occurred_by.isoformat() if self.occurred_by else None,
            "cut": describe_cut(self.as_of, self.occurred_by),
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

    def __init__(
        self,
        app: NeonBlue,
        key: str,
        as_of: datetime | None,
        stop: int | None,
        occurred_by: datetime | None = None,
    ) -> None:
        self.app, self.key, self.as_of, self.stop = app, key, as_of, stop
        self.occurred_by = _aware(occurred_by) if occurred_by else None
        self.experiment_id = experiment_id(key)
        self._happened: set[int] | None = None
        if occurred_by is not None:
            known = [
                e
                for e in app.events.get(self.experiment_id)
                if as_of is None or e.timestamp <= as_of
            ]
            self._happened = {e.originator_version for e in happened_by(known, occurred_by)}
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
            if self.occurred_by is not None and not self._had_happened(entry):
                continue
            self.position = entry.position
            self._observe(entry)
            yield entry

    def _had_happened(self, entry: LoggedEvent) -> bool:
        if entry.originator_id == self.experiment_id:
            assert self._happened is not None
            return entry.event.originator_version in self._happened
        when = event_time(entry.event)
        return when is None or self.occurred_by is None or when <= self.occurred_by

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
    occurred_by: datetime | None = None,
) -> Replay:
    """The experiment ``key`` as of ``as_of`` (recording time), ``occurred_by`` (event
    time) and/or log position ``stop``."""
    app.experiment(key)  # a clear error for a key that never existed
    view = _LogAsOf(app, key, as_of, stop, occurred_by)
    sums = variant_sums(cast(NeonBlue, view), key).get(key, {})
    if view.folded is None:
        when = describe_cut(as_of, occurred_by, stop)
        raise ExperimentNotFound(
            f"Experiment {key!r} was not yet recorded (or had not yet happened) for the cut "
            f"{when}; pick a later time."
        )
    result = Replay(
        view.folded, as_of, view.position, occurred_by, view.enrolled, view.exposed, sums
    )
    if len(view.folded.variants) >= 2:
        settings = settings or AnalysisSettings()
        result.scorecard = build_scorecard(
            view.folded, sums, settings.options(), settings.cuped, settings.correction
        )
    return result
