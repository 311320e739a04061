"""Daily cumulative lift of every treatment against control, and its forecast.

The forecast runs on the log-ratio ``log(1 + lift)``, where a Holt model's symmetric
intervals are reasonable, and comes back as ``exp(x) - 1``: a relative lift can never
fall below -100% (a conversion rate cannot go below zero), so neither can its bounds.

Two powers are reported and named: *conditional* power assumes the current estimate is
the true effect; *predictive* power averages over what the effect may be given the data
so far (Spiegelhalter et al.). They differ except at the very end of an experiment.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from mcp_servers.clickhouse.models import TrendPoint, VariantTrend
from mcp_servers.common.models import finite

if TYPE_CHECKING:
    from domain.analysis import MetricRow
    from domain.experiments.aggregate import Experiment


def cumulative_lifts(
    exposures: list[tuple[Any, ...]], daily: list[tuple[Any, ...]], control: str, treatment: str
) -> list[TrendPoint]:
    """Per day: the cumulative lift of ``treatment`` over ``control`` and the users so far."""
    users: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sums: dict[Any, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for day, variant, count in exposures:
        users[day][variant] += int(count)
    for day, variant, _, _, total, _ in daily:
        sums[day][variant] += float(total)
    points, n, s = [], defaultdict(int), defaultdict(float)
    for day in sorted(set(users) | set(sums)):
        for v in (control, treatment):
            n[v] += users[day][v]
            s[v] += sums[day][v]
        lift = None
        if n[control] and n[treatment] and s[control] > 0:
            lift = (s[treatment] / n[treatment]) / (s[control] / n[control]) - 1
        points.append(TrendPoint(date=day, cumulative_lift=lift, users=n[control] + n[treatment]))
    return points


def variant_trend(
    experiment: Experiment,
    treatment: str,
    history: list[TrendPoint],
    row: MetricRow | None,
    days_ahead: int,
    planned_days: float,
    metric: str,
) -> VariantTrend:
    """The forecast and both powers of one treatment (empty forecast when data is short)."""
    from domain.statistics import conditional_power, predictive_power
    from domain.statistics import predict_experiment_trends as holt_forecast

    # the first days' lifts rest on a handful of users: forecast from 10% of traffic on
    enough = 0.1 * (history[-1].users if history else 0)
    series = [
        math.log1p(p.cumulative_lift)
        for p in history
        if p.cumulative_lift is not None and p.cumulative_lift > -1 and p.users >= enough
    ]
    predictive = conditional = None
    if row is not None and row.std_error > 0 and experiment.started_at and history:
        # information so far: days from the start to the newest day with data
        elapsed = max((history[-1].date - experiment.started_at.date()).days + 1, 1)
        fraction = min(elapsed / planned_days, 1.0)
        predictive = finite(predictive_power(row.lift / row.std_error, fraction))
        conditional = finite(
            conditional_power(row.lift, row.std_error, fraction, 1.0).conditional_power
        )
    if len(series) < 3:
        return VariantTrend(
            variant=treatment,
            history=history,
            forecast=[],
            lower=[],
            upper=[],
            predictive_power=predictive,
            conditional_power=conditional,
            summary=f"{treatment} has {len(series)} day(s) of data; trends need 3.",
        )
    fitted = holt_forecast(series, days_ahead)
    forecast = [_lift(x) for x in fitted.forecast]
    lower = [_lift(x) for x in fitted.lower]
    upper = [_lift(x) for x in fitted.upper]
    summary = (
        f"cumulative lift of {metric} for {treatment} now {math.expm1(series[-1]):+.1%}, "
        f"forecast {forecast[-1]:+.1%} [{lower[-1]:+.1%}, {upper[-1]:+.1%}] in {days_ahead} days"
    )
    return VariantTrend(
        variant=treatment,
        history=history,
        forecast=forecast,
        lower=lower,
        upper=upper,
        predictive_power=predictive,
        conditional_power=conditional,
        summary=summary,
    )


MAX_LOG_RATIO = 709.0
"""exp() of more overflows a float. A series whose lift swings by orders of magnitude (an
outlier value) extrapolates that far within the 60 days asked for at most."""


def _lift(log_ratio: float) -> float:
    """The relative lift of a forecast log-ratio, finite however far it extrapolates."""
    return math.expm1(min(log_ratio, MAX_LOG_RATIO))
