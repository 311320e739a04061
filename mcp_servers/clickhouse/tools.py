"""Tools of the ClickHouse server: insights, trends, time series and segment breakdowns."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field, Strict

from domain.experiments.aggregate import Experiment
from domain.experiments.values import MetricKind, MetricRole
from mcp_servers.clickhouse import queries
from mcp_servers.clickhouse.models import (
    DailyRow,
    Insights,
    SegmentRow,
    Segments,
    Timeseries,
    TrendPoint,
    Trends,
)
from mcp_servers.common.deps import ReadSide
from mcp_servers.common.errors import tool_errors
from mcp_servers.common.freshness import Freshness
from mcp_servers.common.inputs import Day, Engine, ExperimentKey, Flag, Tag
from mcp_servers.common.models import ExperimentOut, ScorecardOut

if TYPE_CHECKING:
    from domain.analysis import VariantSums

MetricKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Dimension = Literal["device", "country"]


class ClickHouseTools:
    def __init__(
        self,
        services: ReadSide,
        catch_up: bool = True,
        max_rows: int = 1000,
        timeout: float = 10.0,
        planned_days: float = 28.0,
    ) -> None:
        self.services = services
        self.catch_up = catch_up
        self.max_rows = max_rows
        self.timeout = timeout
        self.planned_days = planned_days

    # -- helpers ----------------------------------------------------------------------------

    def _model(self) -> Any:
        models = self.services.read_models()
        if self.catch_up:
            models.runner("analytics").catch_up()
        return models.analytics()

    def freshness(self) -> Freshness:
        status = self.services.read_models().runner("analytics").status()
        return Freshness.of("clickhouse", status.position, status.head)

    def _experiment(self, key: str) -> Experiment:
        return self.services.app.experiment(key)

    # -- tools ------------------------------------------------------------------------------

    def generate_analytics_insights(
        self, experiment_id: ExperimentKey, engine: Engine = "sequential", cuped: Flag = True
    ) -> Insights:
        """Full analysis from the analytics read model (CUPED when pre-data exists) and
        plain-language findings: SRM, each metric's verdict, guardrails."""
        from domain.statistics import AnalysisOptions

        with tool_errors():
            experiment = self._experiment(experiment_id)
            card = self._model().scorecard(experiment, AnalysisOptions(engine=engine), cuped)
        findings = [
            "Sample ratio mismatch: do not trust these results."
            if card.srm.mismatch
            else f"Traffic split matches the weights (SRM p={card.srm.p_value:.2f})."
        ]
        for row in card.rows:
            if row.error:
                findings.append(f"{row.metric} ({row.variant}): {row.error}")
                continue
            verdict = {"better": "is significantly better", "worse": "is significantly worse"}.get(
                row.direction, "shows no significant difference"
            )
            findings.append(
                f"{row.metric} {verdict} in {row.variant}: {row.lift:+.1%} "
                f"[{row.ci_lower:+.1%}, {row.ci_upper:+.1%}] ({card.engine})."
            )
            if row.guardrail is not None:
                findings.append(f"Guardrail {row.metric} ({row.variant}): {row.guardrail.status}.")
        return Insights(
            experiment=ExperimentOut.of(experiment),
            scorecard=ScorecardOut.of(card),
            findings=findings,
            freshness=self.freshness(),
        )

    def predict_experiment_trends(
        self,
        experiment_id: ExperimentKey,
        days_ahead: Annotated[int, Strict(), Field(ge=1, le=60)] = 7,
        metric: MetricKey | None = None,
    ) -> Trends:
        """Cumulative lift of a metric by day, a Holt forecast with 95% intervals, and the
        chance of reaching significance by the planned end (predictive power)."""
        with tool_errors():
            experiment = self._experiment(experiment_id)
            target = _metric(experiment, metric)
            model = self._model()
            db = model.live_database()
            exposures = queries.daily_exposures(model.client, db, experiment_id, self.timeout)
            daily = queries.daily_metric(
                model.client, db, experiment_id, target, 10_000, self.timeout
            )
        control, treatment = experiment.variant_keys()[0], experiment.variant_keys()[1]
        history = _cumulative_lift(exposures, daily, control, treatment)
        # the first days' lifts rest on a handful of users: forecast from 10% of traffic on
        enough = 0.1 * (history[-1].users if history else 0)
        series = [
            p.cumulative_lift
            for p in history
            if p.cumulative_lift is not None and p.users >= enough
        ]
        if len(series) < 3:
            raise ToolError(f"{experiment_id} has {len(series)} day(s) of data; trends need 3.")
        from domain.statistics import AnalysisOptions, predictive_power
        from domain.statistics import predict_experiment_trends as holt_forecast

        forecast = holt_forecast(series, days_ahead)
        sums = model.scorecard(experiment, AnalysisOptions(engine="frequentist"), cuped=False)
        row = next((r for r in sums.rows if r.metric == target and r.variant == treatment), None)
        power = None
        if row is not None and row.std_error > 0 and experiment.started_at:
            elapsed = max((datetime.now(UTC) - experiment.started_at).days, 1)
            power = predictive_power(
                row.lift / row.std_error, min(elapsed / self.planned_days, 1.0)
            )
        last = forecast.forecast[-1]
        summary = (
            f"cumulative lift of {target} for {treatment} now {series[-1]:+.1%}, forecast "
            f"{last:+.1%} [{forecast.lower[-1]:+.1%}, {forecast.upper[-1]:+.1%}] "
            f"in {days_ahead} days"
        )
        return Trends(
            experiment_id=experiment_id,
            metric=target,
            variant=treatment,
            history=history,
            forecast=list(forecast.forecast),
            lower=list(forecast.lower),
            upper=list(forecast.upper),
            predictive_power=power,
            conditional_power=power,
            summary=summary,
            freshness=self.freshness(),
        )

    def metric_timeseries(
        self,
        experiment_id: ExperimentKey,
        metric: MetricKey | None = None,
        limit: Annotated[int, Strict(), Field(ge=1, le=5000)] = 500,
    ) -> Timeseries:
        """Daily users, conversions, sum and sum of squares per variant for one metric."""
        with tool_errors():
            experiment = self._experiment(experiment_id)
            target = _metric(experiment, metric)
            model = self._model()
            cap = min(limit, self.max_rows)
            rows = queries.daily_metric(
                model.client, model.live_database(), experiment_id, target, cap + 1, self.timeout
            )
        return Timeseries(
            experiment_id=experiment_id,
            metric=target,
            rows=[
                DailyRow(
                    date=r[0],
                    variant=r[1],
                    users=int(r[2]),
                    conversions=int(r[3]),
                    sum=float(r[4]),
                    sum_squares=float(r[5]),
                )
                for r in rows[:cap]
            ],
            truncated=len(rows) > cap,
            freshness=self.freshness(),
        )

    def segment_breakdown(
        self,
        experiment_id: ExperimentKey | None = None,
        dimension: Dimension = "device",
        metric: MetricKey | None = None,
        tag: Tag | None = None,
        since: Day | None = None,
        until: Day | None = None,
    ) -> Segments:
        """Lift per segment (device or country) of one experiment, or of every experiment with
        ``tag`` started between ``since`` and ``until``."""
        if experiment_id is None and tag is None:
            raise ToolError("Give an experiment_id, or a tag (with an optional since/until).")
        with tool_errors():
            model = self._model()
            db = model.live_database()
            if experiment_id is not None:
                keys = [experiment_id]
                self._experiment(experiment_id)
            else:
                keys = queries.experiments_with_tag(
                    model.client, db, tag, _micros(since, 0), _micros(until, 2**62), self.timeout
                )
            rows: list[SegmentRow] = []
            for key in keys:
                experiment = self._experiment(key)
                target = _metric(experiment, metric)
                raw = queries.segment_sums(model.client, db, key, target, dimension, self.timeout)
                rows += _segment_rows(experiment, target, raw)
        return Segments(
            dimension=dimension,
            metric=metric,
            experiments=keys,
            segments=rows[: self.max_rows],
            freshness=self.freshness(),
        )


def _metric(experiment: Experiment, metric: str | None) -> str:
    if metric is None:
        primary = [m for m in experiment.metrics if m.role == MetricRole.PRIMARY]
        if not primary:
            raise ToolError(f"{experiment.key} has no primary metric; name one.")
        chosen = primary[0]
        if chosen.kind == MetricKind.RATIO:
            return chosen.numerator or chosen.key
        return chosen.key
    experiment.metric(metric)  # unknown metric -> domain error
    return metric


def _micros(day: date | None, default: int) -> int:
    if day is None:
        return default
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1_000_000)


def _cumulative_lift(
    exposures: list[tuple[Any, ...]], daily: list[tuple[Any, ...]], control: str, treatment: str
) -> list[TrendPoint]:
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


def _segment_rows(
    experiment: Experiment, metric: str, raw: list[tuple[Any, ...]]
) -> list[SegmentRow]:
    from domain.analysis import VariantSums, build_scorecard
    from domain.statistics import AnalysisOptions

    by_segment: dict[str, dict[str, VariantSums]] = defaultdict(dict)
    for segment, variant, users, total, squares in raw:
        by_segment[segment or "unknown"][variant] = VariantSums(
            int(users), {metric: float(total)}, {metric: float(squares)}
        )
    rows = []
    for segment, data in sorted(by_segment.items()):
        card = build_scorecard(experiment, data, AnalysisOptions(engine="frequentist"), cuped=False)
        for row in card.rows:
            if row.metric != metric:
                continue
            rows.append(
                SegmentRow(
                    experiment_id=experiment.key,
                    segment=segment,
                    variant=row.variant,
                    users=sum(d.users for d in data.values()),
                    control_mean=_finite(row.control_mean),
                    variant_mean=_finite(row.variant_mean),
                    relative_lift=_finite(row.lift),
                    ci_lower=_finite(row.ci_lower),
                    ci_upper=_finite(row.ci_upper),
                )
            )
    return rows


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
