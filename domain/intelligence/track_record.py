"""How good the recommendations' forecasts were, once their experiments concluded.

A recommendation carries forecasts in its numbers: the lift interval of the primary
metric when it was made (``lift``, ``ci_lower``, ``ci_upper``) and, for CONTINUE/EXTEND,
the predictive power, the chance the test reaches significance by its planned end. When
the experiment concludes they are scored against the outcome: did the interval hold the
final lift (against the true lift in simulations), and the Brier score
``(power - reached)^2`` of the significance forecast. The track record sums these up by
forecast band, so the policy can say how often its 80 % forecasts came true. Pure.

Guardrail-based STOP proposals carry a guardrail's interval, and FIX_SRM/REALLOCATE none
of the primary metric, so only SHIP/CONTINUE/EXTEND intervals are scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PRIMARY_INTERVAL_ACTIONS = frozenset({"ship", "continue", "extend"})
BANDS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))
MINIMUM_FOR_A_STATEMENT = 5


@dataclass(frozen=True)
class Forecast:
    """What a recommendation predicted (``None``: it predicted nothing of that kind)."""

    lift: float | None
    ci_lower: float | None
    ci_upper: float | None
    predictive_power: float | None
    days_needed: float | None = None

    @classmethod
    def of(cls, action: str, numbers: Mapping[str, float]) -> Forecast:
        def finite(name: str) -> float | None:
            value = numbers.get(name)
            return float(value) if value is not None and math.isfinite(value) else None

        interval = action in PRIMARY_INTERVAL_ACTIONS
        return cls(
            lift=finite("lift") if interval else None,
            ci_lower=finite("ci_lower") if interval else None,
            ci_upper=finite("ci_upper") if interval else None,
            predictive_power=finite("predictive_power"),
            days_needed=finite("days_needed"),
        )

    @property
    def has_interval(self) -> bool:
        return self.ci_lower is not None and self.ci_upper is not None


@dataclass(frozen=True)
class Outcome:
    """The primary metric's lift at the end (or the truth) and whether it was significant."""

    lift: float
    significant: bool


@dataclass(frozen=True)
class PredictionScore:
    covered: bool | None  # the interval held the outcome's lift
    brier: float | None  # (predictive power - reached significance)^2
    predictive_power: float | None
    significant: bool


def score(forecast: Forecast, outcome: Outcome) -> PredictionScore:
    """Score one recommendation's forecasts against its experiment's outcome."""
    covered = None
    if forecast.has_interval and math.isfinite(outcome.lift):
        covered = forecast.ci_lower <= outcome.lift <= forecast.ci_upper  # type: ignore[operator]
    brier = None
    if forecast.predictive_power is not None:
        brier = (forecast.predictive_power - float(outcome.significant)) ** 2
    return PredictionScore(covered, brier, forecast.predictive_power, outcome.significant)


@dataclass(frozen=True)
class Band:
    """Significance forecasts with power in ``[low, high)`` and how often they came true."""

    low: float
    high: float
    forecasts: int
    came_true: int
    mean_forecast: float

    @property
    def rate(self) -> float:
        return self.came_true / self.forecasts if self.forecasts else math.nan


@dataclass(frozen=True)
class TrackRecord:
    experiments: int
    intervals: int
    covered: int
    significance_forecasts: int
    brier: float
    bands: tuple[Band, ...]

    @property
    def coverage(self) -> float:
        return self.covered / self.intervals if self.intervals else math.nan

    def statement(self) -> str:
        """One sentence for recommendations, or "" while there is too little to say."""
        parts = []
        top = self.bands[-1]
        if top.forecasts >= MINIMUM_FOR_A_STATEMENT:
            parts.append(
                f"our {top.low:.0%}+ forecasts of significance have come true "
                f"{top.rate:.0%} of the time over {top.forecasts} forecasts"
            )
        if self.intervals >= MINIMUM_FOR_A_STATEMENT:
            parts.append(
                f"our lift intervals held the final lift {self.coverage:.0%} of the time "
                f"over {self.intervals}"
            )
        if not parts:
            return ""
        brier = f" (Brier score {self.brier:.3f})" if math.isfinite(self.brier) else ""
        return (
            f"Track record over {self.experiments} concluded experiments: "
            + "; ".join(parts)
            + f"{brier}."
        )


def track_record(scores: Sequence[tuple[str, PredictionScore]]) -> TrackRecord:
    """Summary over ``(experiment_key, score)`` pairs."""
    intervals = [s for _, s in scores if s.covered is not None]
    forecasts = [s for _, s in scores if s.brier is not None]
    bands = []
    for low, high in BANDS:
        inside = [
            s
            for s in forecasts
            if low <= s.predictive_power < high or (high == 1.0 and s.predictive_power == 1.0)  # type: ignore[operator]
        ]
        bands.append(
            Band(
                low,
                high,
                len(inside),
                sum(s.significant for s in inside),
                sum(s.predictive_power for s in inside) / len(inside) if inside else math.nan,  # type: ignore[misc]
            )
        )
    return TrackRecord(
        experiments=len({key for key, _ in scores}),
        intervals=len(intervals),
        covered=sum(bool(s.covered) for s in intervals),
        significance_forecasts=len(forecasts),
        brier=sum(s.brier for s in forecasts) / len(forecasts) if forecasts else math.nan,  # type: ignore[misc]
        bands=tuple(bands),
    )
