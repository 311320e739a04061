"""Tools of the ClickHouse server: insights, trends, time series and segment breakdowns."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field, Strict

from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole
from mcp_servers.clickhouse import queries
from mcp_servers.clickhouse.models import Insights, SegmentRow, Segments, Timeseries, Trends
from mcp_servers.clickhouse.segments import corrected, daily_rows, segment_rows
from mcp_servers.clickhouse.trends import arm_days, variant_trend
from mcp_servers.common.deps import ReadSide
from mcp_servers.common.errors import tool_errors
from mcp_servers.common.freshness import Freshness
from mcp_servers.common.inputs import Day, Engine, ExperimentKey, Flag, Tag
from mcp_servers.common.models import ExperimentOut, ScorecardOut

MetricKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Dimension = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$",
        description="A segment dimension the exposures carry, e.g. device or country.",
    ),
]


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

    def version(self) -> tuple[int, int]:
        """What the answers are computed from: the log head and the read model's position."""
        runner = self.services.read_models().runner("analytics")
        return runner.reader.head(), runner.projection.position()

    def freshness(self) -> Freshness:
        status = self.services.read_models().runner("analytics").status()
        return Freshness.of("clickhouse", status.position, status.head)

    def _experiment(self, key: str) -> Experiment:
        return self.services.app.experiment(key)

    # -- tools ------------------------------------------------------------------------------

    def generate_analytics_insights(
        self, experiment_id: ExperimentKey, engine: Engine | None = None, cuped: Flag = True
    ) -> Insights:
        """Full analysis from the analytics read model (CUPED when pre-data exists) and
        plain-language findings: SRM, each metric's verdict, guardrails. ``engine``: null
        for the platform's default (named in the answer's scorecard)."""
        from domain.statistics import AnalysisOptions

        with tool_errors():
            experiment = self._experiment(experiment_id)
            card = self._model().scorecard(
                experiment,
                AnalysisOptions(engine=engine or self.services.engine),
                cuped,
                as_of=datetime.now(UTC),
                planned_days=self.planned_days,
            )
        if not card.total_users:  # no split to check (its p-value is NaN)
            findings = ["No exposed users yet: there is nothing to compare."]
        elif card.srm.mismatch:
            findings = ["Sample ratio mismatch: do not trust these results."]
        else:
            findings = [f"Traffic split matches the weights (SRM p={card.srm.p_value:.2f})."]
        for row in card.rows:
            if row.error:
                findings.append(f"{row.label} ({row.variant}): {row.error}")
                continue
            verdict = {"better": "is significantly better", "worse": "is significantly worse"}.get(
                row.direction, "shows no significant difference"
            )
            chance = (
                f", chance to beat control {row.chance_to_beat_control:.1%}"
                if row.chance_to_beat_control is not None
                else ""
            )
            findings.append(
                f"{row.label} {verdict} in {row.variant}: {row.lift:+.1%} "
                f"[{row.ci_lower:+.1%}, {row.ci_upper:+.1%}]{chance} ({card.engine})."
            )
            if row.guardrail is not None:
                findings.append(f"Guardrail {row.metric} ({row.variant}): {row.guardrail.status}.")
            if row.impact is not None and row.impact.ok:
                from domain.analysis import describe_impact

                findings.append(describe_impact(row.metric, row.variant, row.impact))
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
        """Cumulative lift of a metric by day for every treatment against control; its
        forecast for each of the next days_ahead days with 95% intervals; and two named
        chances of significance by the planned end: predictive power (averaged over the
        effect's uncertainty) and conditional power (if the current estimate is the truth).
        The forecast fits a local-level model to each full day's own lift (log scale, no
        trend) and adds the forecast days to the days observed, so a stable effect gives a
        narrow interval that widens with days_ahead and narrows as data accrue; bounds
        never fall below -100%."""
        from domain.statistics import AnalysisOptions

        with tool_errors():
            experiment = self._experiment(experiment_id)
            target = _metric(experiment, metric)
            model = self._model()
            db = model.live_database()
            exposures = queries.daily_exposures(model.client, db, experiment_id, self.timeout)
            daily = queries.daily_metric(
                model.client, db, experiment_id, target, 10_000, self.timeout
            )
            card = model.scorecard(experiment, AnalysisOptions(engine="frequentist"), cuped=False)
        control, *treatments = experiment.variant_keys() or [""]
        if not treatments:
            raise ToolError(f"{experiment_id} has no treatment to compare with {control!r}.")
        rows = {r.variant: r for r in card.rows if r.metric == target}
        variants = [
            variant_trend(
                experiment,
                treatment,
                arm_days(exposures, daily, control, treatment),
                rows.get(treatment),
                days_ahead,
                self.planned_days,
                target,
            )
            for treatment in treatments
        ]
        if not any(v.forecast for v in variants):
            raise ToolError(f"{experiment_id}: {variants[0].summary}")
        first = variants[0]
        return Trends(
            experiment_id=experiment_id,
            metric=target,
            control=control,
            variants=variants,
            variant=first.variant,
            history=first.history,
            forecast=first.forecast,
            lower=first.lower,
            upper=first.upper,
            predictive_power=first.predictive_power,
            conditional_power=first.conditional_power,
            planned_days=self.planned_days,
            summary="; ".join(v.summary for v in variants),
            freshness=self.freshness(),
        )

    def metric_timeseries(
        self,
        experiment_id: ExperimentKey,
        metric: MetricKey | None = None,
        limit: Annotated[int, Strict(), Field(ge=1, le=5000)] = 500,
    ) -> Timeseries:
        """Daily events of one metric per variant, with the exposed users as denominators:
        users first exposed that day, users exposed so far, and the rates per exposed user
        (that day's and cumulative)."""
        with tool_errors():
            experiment = self._experiment(experiment_id)
            target = _metric(experiment, metric)
            model = self._model()
            db = model.live_database()
            cap = min(limit, self.max_rows)
            rows = queries.daily_metric(
                model.client, db, experiment_id, target, cap + 1, self.timeout
            )
            exposures = queries.daily_exposures(model.client, db, experiment_id, self.timeout)
        return Timeseries(
            experiment_id=experiment_id,
            metric=target,
            rows=daily_rows(rows[:cap], exposures),
            truncated=len(rows) > cap,
            freshness=self.freshness(),
        )

    def segment_breakdown(
        self,
        experiment_id: ExperimentKey | None = None,
        dimension: Dimension | None = None,
        metric: MetricKey | None = None,
        tag: Tag | None = None,
        since: Day | None = None,
        until: Day | None = None,
    ) -> Segments:
        """Lift per segment of one experiment, or of every experiment with ``tag`` started
        between ``since`` and ``until`` (with ``experiment_id`` too, they must match it).
        ``dimension``: one segment dimension (device, country, ...); default every dimension
        the exposures carry. ``metric``: any metric of the experiment, analysed per segment
        as the scorecard analyses it (a mean, a rate, a ratio or a quantile), or a ratio's
        numerator or denominator (as a mean); default the primary metric."""
        if experiment_id is None and tag is None:
            raise ToolError("Give an experiment_id, or a tag (with an optional since/until).")
        if since is not None and until is not None and since > until:
            raise ToolError(f"since ({since}) is after until ({until}); swap them.")
        with tool_errors():
            model = self._model()
            db = model.live_database()
            start, end = _micros(since, 0), _micros(until, 2**62, end_of_day=True)
            if experiment_id is not None:
                keys = [self._experiment(experiment_id).key]
                if tag is not None or since is not None or until is not None:
                    _must_match(self._experiment(experiment_id), tag, start, end)
            else:
                keys = queries.experiments_with_tag(model.client, db, tag, start, end, self.timeout)
            rows: list[SegmentRow] = []
            metrics: dict[str, str] = {}
            for key in keys:
                experiment = self._experiment(key)
                target = _segment_metric(experiment, metric)
                metrics[key] = target.key
                sums = queries.segment_sums(
                    model.client, db, experiment, dimension or "", target.key, self.timeout
                )
                if dimension and not sums and experiment_id is not None:
                    seen = queries.segment_dimensions(model.client, db, key, self.timeout)
                    raise ToolError(
                        f"{key} has no segment dimension {dimension!r}; it has: "
                        f"{', '.join(seen) or 'none'}."
                    )
                rows += segment_rows(experiment, target, sums)
        used = set(metrics.values())
        return Segments(
            dimension=dimension,
            dimensions=sorted({r.dimension for r in rows}),
            metric=metric or (used.pop() if len(used) == 1 else None),
            metric_by_experiment=metrics,
            experiments=keys,
            segments=corrected(rows)[: self.max_rows],
            freshness=self.freshness(),
        )


def _metric(experiment: Experiment, metric: str | None) -> str:
    """The recorded metric a tool reads: ``metric``, else the primary metric (a ratio's
    numerator). A ratio metric is not recorded itself: its numerator or denominator is."""
    if metric is None:
        primary = [m for m in experiment.metrics if m.role == MetricRole.PRIMARY]
        if not primary:
            raise ToolError(f"{experiment.key} has no primary metric; name one.")
        chosen = primary[0]
        if chosen.kind == MetricKind.RATIO:
            return chosen.numerator or chosen.key
        return chosen.key
    defined = {m.key: m for m in experiment.metrics}
    parts = [
        part
        for m in experiment.metrics
        if m.kind == MetricKind.RATIO
        for part in (m.numerator, m.denominator)
        if part and part not in defined
    ]
    if metric in parts:
        return metric
    if metric not in defined:
        known = ", ".join(dict.fromkeys([*defined, *parts])) or "none"
        raise ToolError(f"Experiment {experiment.key!r} has no metric {metric!r}; it has: {known}.")
    ratio = defined[metric]
    if ratio.kind == MetricKind.RATIO:
        raise ToolError(
            f"{metric!r} is a ratio metric ({ratio.numerator} / {ratio.denominator}), not "
            f"recorded itself: ask for {ratio.numerator!r} or {ratio.denominator!r} "
            "(generate_analytics_insights analyses the ratio)."
        )
    return metric


def _segment_metric(experiment: Experiment, metric: str | None) -> Metric:
    """The metric segments are compared on: ``metric`` (any kind, or a ratio's numerator or
    denominator, compared as a mean), else the primary metric."""
    defined = {m.key: m for m in experiment.metrics}
    if metric is None:
        primary = [m for m in experiment.metrics if m.role == MetricRole.PRIMARY]
        if not primary:
            raise ToolError(f"{experiment.key} has no primary metric; name one.")
        return primary[0]
    if metric in defined:
        return defined[metric]
    _metric(experiment, metric)  # a ratio's part, or an error naming the known metrics
    return Metric(metric, MetricRole.SECONDARY, MetricKind.MEAN)


def _micros(day: date | None, default: int, end_of_day: bool = False) -> int:
    if day is None:
        return default
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1_000_000)
    return start + 86_400_000_000 - 1 if end_of_day else start


def _must_match(experiment: Experiment, tag: str | None, start_us: int, end_us: int) -> None:
    """With an experiment_id, tag and period are filters it must pass, never ignored."""
    if tag is not None and tag not in experiment.tags:
        raise ToolError(
            f"{experiment.key} is not tagged {tag!r} (its tags: "
            f"{', '.join(experiment.tags) or 'none'})."
        )
    started = experiment.started_at
    if started is None:
        raise ToolError(f"{experiment.key} has not started, so no period can include it.")
    started_us = int(started.timestamp() * 1_000_000)
    if not start_us <= started_us <= end_us:
        raise ToolError(
            f"{experiment.key} started {started.date()}, outside the since/until period."
        )
