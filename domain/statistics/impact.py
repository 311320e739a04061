"""Projected impact of shipping: the effect per unit scaled to all traffic.

An absolute effect ``D`` per unit (e.g. +0.4 conversions or +$0.12 per user) observed
while the experiment saw a share ``s`` of traffic (coverage x namespace slice) for ``T``
days with ``N`` units in all its variants means ``N / (s T)`` units a day at full traffic,
so shipping changes the metric's total by ``D N / (s T)`` a day and by that times the
planned duration over it. The interval scales the effect's interval by the same factor
(as GrowthBook's scaled impact does, with ``N`` the experiment's total units). A scorecard
passes its relative effect and interval times the control mean as ``D``
(`domain.analysis.impact`), so impact and lift agree in sign. Ratio and quantile metrics
have no per-unit total, so they get no projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from domain.statistics.results import ErrorCode, error_fields

NAN = math.nan


@dataclass(frozen=True)
class ProjectedImpact:
    """Change of the metric's total if the variant shipped to 100 % of traffic."""

    per_day: float
    per_day_lower: float
    per_day_upper: float
    planned_days: float
    over_planned_days: float
    over_planned_days_lower: float
    over_planned_days_upper: float
    units_per_day: float
    error: ErrorCode | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def projected_impact(
    effect: float,
    ci_lower: float,
    ci_upper: float,
    total_units: float,
    traffic_share: float,
    days_observed: float,
    planned_days: float,
) -> ProjectedImpact:
    """Scale an absolute per-unit effect and its interval to full traffic.

    ``total_units`` counts the units of every variant of the experiment,
    ``traffic_share`` is the share of all traffic the experiment received and
    ``days_observed`` how long it ran; ``planned_days`` is the duration to project over.
    """
    if not (traffic_share > 0 and days_observed > 0 and total_units > 0 and planned_days > 0):
        return _failed(planned_days, "needs units, a traffic share and days observed above 0")
    if not math.isfinite(effect):
        return _failed(planned_days, "the effect could not be estimated")
    units_per_day = total_units / (traffic_share * days_observed)
    day = [value * units_per_day for value in (effect, ci_lower, ci_upper)]
    return ProjectedImpact(
        per_day=day[0],
        per_day_lower=day[1],
        per_day_upper=day[2],
        planned_days=planned_days,
        over_planned_days=day[0] * planned_days,
        over_planned_days_lower=day[1] * planned_days,
        over_planned_days_upper=day[2] * planned_days,
        units_per_day=units_per_day,
    )


def _failed(planned_days: float, message: str) -> ProjectedImpact:
    return ProjectedImpact(
        NAN, NAN, NAN, planned_days, NAN, NAN, NAN, NAN,
        **error_fields(ErrorCode.INVALID_INPUT, message),  # type: ignore[arg-type]
    )  # fmt: skip
