"""Recorded analyses: results as published, with the inputs needed to recompute them.

When results are published (CLI, MCP or agent) an :class:`AnalysisRecord` stores the
experiment, the log position its inputs were read at, the analysis settings, the
statistics-engine version and a summary of the results; an auditor recomputes the
results from the log up to that position and compares them with the summary.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.analysis.scorecard import Scorecard
from domain.statistics import AnalysisOptions, GaussianPrior
from domain.statistics.bayesian import PriorScale
from domain.statistics.corrections import CorrectionMethod
from domain.statistics.results import Alternative, DifferenceType, Engine

SUMMARY_FIELDS = ("control_mean", "variant_mean", "lift", "ci_lower", "ci_upper", "p_value",
                  "adjusted_p_value", "chance_to_beat_control", "significant", "direction")  # fmt: skip


@dataclass(frozen=True)
class AnalysisSettings:
    """Every choice that shapes a scorecard, as plain values (stored with the record)."""

    engine: Engine = "frequentist"
    difference_type: DifferenceType = "relative"
    alternative: Alternative = "two-sided"
    alpha: float = 0.05
    sequential_tuning_parameter: float = 5000.0
    prior_mean: float = 0.0
    prior_variance: float = 1.0
    prior_proper: bool = False
    prior_scale: PriorScale | None = None  # None: the analysis' own scale (older records)
    cuped: bool = True
    correction: CorrectionMethod = "holm"

    def options(self) -> AnalysisOptions:
        return AnalysisOptions(
            engine=self.engine,
            difference_type=self.difference_type,
            alternative=self.alternative,
            alpha=self.alpha,
            sequential_tuning_parameter=self.sequential_tuning_parameter,
            prior=GaussianPrior(
                self.prior_mean,
                self.prior_variance,
                self.prior_proper,
                self.prior_scale or self.difference_type,
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisSettings:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def _plain(value: Any) -> Any:
    """JSON-safe and exactly comparable: numpy scalars become Python ones, NaN a string."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def summarize(scorecard: Scorecard) -> dict[str, Any]:
    """The published numbers of a scorecard, as plain JSON values."""
    rows = []
    for row in scorecard.rows:
        item = {"metric": row.metric, "variant": row.variant, "error": row.error}
        item.update({name: _plain(getattr(row, name)) for name in SUMMARY_FIELDS})
        if row.guardrail is not None:
            item["guardrail"] = row.guardrail.status
        rows.append(item)
    return {
        "control": scorecard.control,
        "users": dict(scorecard.users),
        "srm_p_value": _plain(scorecard.srm.p_value),
        "rows": rows,
    }


def compare_summaries(recorded: dict[str, Any], recomputed: dict[str, Any]) -> list[str]:
    """Differences between two summaries, one line each (empty when identical)."""
    differences = []
    for key in ("control", "users", "srm_p_value"):
        if recorded.get(key) != recomputed.get(key):
            differences.append(f"{key}: {recorded.get(key)!r} != {recomputed.get(key)!r}")
    old = {(r["metric"], r["variant"]): r for r in recorded.get("rows", [])}
    new = {(r["metric"], r["variant"]): r for r in recomputed.get("rows", [])}
    for cell in sorted(old.keys() | new.keys()):
        if cell not in old or cell not in new:
            differences.append(
                f"{cell[0]}/{cell[1]}: only in {'recomputed' if cell in new else 'recorded'}"
            )
            continue
        for name in sorted(old[cell].keys() | new[cell].keys()):
            if old[cell].get(name) != new[cell].get(name):
                differences.append(
                    f"{cell[0]}/{cell[1]} {name}: {old[cell].get(name)!r} != {new[cell].get(name)!r}"
                )
    return differences


Publisher = Literal["cli", "mcp", "agent", "unknown"] | str


class AnalysisRecord(Aggregate):
    """One publication of an experiment's results."""

    class Published(Aggregate.Created):
        """Version 2 split v1's ``source`` into ``publisher`` and moved ``engine`` into
        ``settings``; :meth:`upcast_v1_v2` turns stored v1 events into v2."""

        class_version = 2
        experiment_key: str
        position: int
        settings: dict[str, Any]
        engine_version: str
        publisher: str
        summary: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["publisher"] = state.pop("source", "unknown")
            state["settings"] = {"engine": state.pop("engine", "frequentist")}

    def __init__(
        self,
        experiment_key: str,
        position: int,
        settings: dict[str, Any],
        engine_version: str,
        publisher: str,
        summary: dict[str, Any],
    ) -> None:
        self.experiment_key = experiment_key
        self.position = position
        self.settings = AnalysisSettings.from_dict(settings)
        self.engine_version = engine_version
        self.publisher = publisher
        self.summary = summary

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return uuid4()

    @classmethod
    def publish(
        cls,
        experiment_key: str,
        position: int,
        settings: AnalysisSettings,
        engine_version: str,
        publisher: Publisher,
        scorecard: Scorecard,
    ) -> AnalysisRecord:
        return cls._create(
            cls.Published,
            experiment_key=experiment_key,
            position=position,
            settings=settings.as_dict(),
            engine_version=engine_version,
            publisher=publisher,
            summary=summarize(scorecard),
        )
