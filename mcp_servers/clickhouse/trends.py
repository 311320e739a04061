"""Daily cumulative lift of every treatment against control, and its forecast.

The forecast models each day's own lift (``domain.statistics.forecast_cumulative_lift``)
and rebuilds the cumulative lift from what is observed plus what is forecast: the
cumulative lift itself is a running average, smooth by construction, and a trend model
fitted to it gives intervals that explode. Lifts are modelled as ``log(1 + lift)`` and
come back as ``exp(x) - 1``: a relative lift can never fall below -100% (a conversion
rate cannot go below zero), so neither can its bounds.

Two powers are reported and named: *conditional* power assumes the current estimate is
the true effect; *predictive* power averages over what the effect may be given the data
so far (Spiegelhalter et al.). They differ except at the very end of an experiment.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from mcp_servers.clickhouse.models import TrendPoint, VariantTrend
from mcp_servers.common.models import finite

if TYPE_CHECKING:
    from domain.analysis import MetricRow
    from domain.experiments.aggregate import Experiment


@dataclass(frozen=True)
class ArmDays:
    """Per day of the log, of control and one treatment: users first exposed that day
    and the metric's total that day."""

    dates: list[date]
    control_users: list[int]
    control_sums: list[float]
    treatment_users: list[int]
    treatment_sums: list[float]


def arm_days(
    exposures: list[tuple[Any, ...]], daily: list[tuple[Any, ...]], control: str, treatment: str
) -> ArmDays:
    """The daily totals of ``control`` and ``treatment`` from the two daily queries."""
    users: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sums: dict[Any, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for day, variant, count in exposures:
        users[day][variant] += int(count)
    for day, variant, _, _, total, _ in daily:
        sums[day][variant] += float(total)
    dates = sorted(set(users) | set(sums))
    return ArmDays(
        dates=dates,
        control_users=[users[d][control] for d in dates],
        control_sums=[sums[d][control] for d in dates],
        treatment_users=[users[d][treatment] for d in dates],
        treatment_sums=[sums[d][treatment] for d in dates],
    )


def cumulative_lifts(days: ArmDays) -> list[TrendPoint]:
    """Per day: the cumulative lift of the treatment over control and the users so far."""
    points, n_c, n_t, s_c, s_t = [], 0, 0, 0.0, 0.0
    for i, day in enumerate(days.dates):
        n_c, n_t = n_c + days.control_users[i], n_t + days.treatment_users[i]
        s_c, s_t = s_c + days.control_sums[i], s_t + days.treatment_sums[i]
        lift = (s_t / n_t) / (s_c / n_c) - 1 if n_c and n_t and s_c > 0 else None
        points.append(TrendPoint(date=day, cumulative_lift=lift, users=n_c + n_t))
    return points


def variant_trend(
    experiment: Experiment,
    treatment: str,
    days: ArmDays,
    row: MetricRow | None,
    days_ahead: int,
    planned_days: float,
    metric: str,
) -> VariantTrend:
    """The forecast and both powers of one treatment (empty forecast when data is short)."""
    from domain.statistics import (
        ErrorCode,
        conditional_power,
        forecast_cumulative_lift,
        predictive_power,
    )

    history = cumulative_lifts(days)
    predictive = conditional = None
    if row is not None and row.std_error > 0 and experiment.started_at and history:
        # information so far: days from the start to the newest day with data
        elapsed = max((history[-1].date - experiment.started_at.date()).days + 1, 1)
        fraction = min(elapsed / planned_days, 1.0)
        predictive = finite(predictive_power(row.lift / row.std_error, fraction))
        conditional = finite(
            conditional_power(row.lift, row.std_error, fraction, 1.0).conditional_power
        )
    fitted = forecast_cumulative_lift(
        days.control_users,
        days.control_sums,
        days.treatment_users,
        days.treatment_sums,
        days_ahead,
    )
    if fitted.error is None:
        summary = (
            f"cumulative lift of {metric} for {treatment} now {fitted.lift:+.1%}, forecast "
            f"{fitted.forecast[-1]:+.1%} [{fitted.lower[-1]:+.1%}, {fitted.upper[-1]:+.1%}] "
            f"in {days_ahead} days"
        )
    elif fitted.error == ErrorCode.N_TOO_SMALL:
        summary = f"{treatment} has {fitted.days} day(s) of data; trends need 3."
    else:
        summary = f"{treatment}: no forecast, {fitted.message}."
    return VariantTrend(
        variant=treatment,
        history=history,
        forecast=list(fitted.forecast),
        lower=list(fitted.lower),
        upper=list(fitted.upper),
        predictive_power=predictive,
        conditional_power=conditional,
        summary=summary,
    )
