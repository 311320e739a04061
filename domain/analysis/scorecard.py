"""The scorecard of one experiment: every metric x treatment, SRM, guardrails, corrections.

It turns per-variant sums (what one ``GROUP BY variant`` over a read model, or a replay of
the event log, returns) into the statistics engine's inputs, so the CLI, MCP servers,
agents and auditors all compute results the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from domain.analysis.impact import (
    DEFAULT_PLANNED_DAYS,
    observed_days,
    projected_impacts,
    traffic_share,
)
from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole
from domain.statistics import (
    AnalysisOptions,
    ErrorCode,
    GuardrailResult,
    ProjectedImpact,
    ProportionStatistic,
    QuantileStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    SrmResult,
    Statistic,
    VariantResult,
    adjust_p_values,
    analyze_experiment,
    non_inferiority_test,
    sample_ratio_mismatch,
    sample_ratio_mismatch_over_periods,
)
from domain.statistics.corrections import CorrectionMethod

Direction = Literal["better", "worse", "flat"]


@dataclass(frozen=True)
class VariantSums:
    """Sufficient statistics of one variant over its exposed users.

    ``sums``/``sums_of_squares`` are per metric over users (a user's value is the sum of
    their metric events, 0 if none). ``products`` holds sum(x*y) per metric pair, for
    ratio metrics (numerator, denominator). ``pre_*`` hold a pre-exposure covariate per
    metric for CUPED (optional). ``quantiles`` holds the quantile statistic of each
    quantile metric (they are not sums: the read model computes them from the values).
    """

    users: int
    sums: Mapping[str, float] = field(default_factory=dict)
    sums_of_squares: Mapping[str, float] = field(default_factory=dict)
    products: Mapping[tuple[str, str], float] = field(default_factory=dict)
    pre_sums: Mapping[str, float] = field(default_factory=dict)
    pre_sums_of_squares: Mapping[str, float] = field(default_factory=dict)
    post_pre_products: Mapping[str, float] = field(default_factory=dict)
    mismatched_users: int = 0  # users also seen in another variant (data quality)
    quantiles: Mapping[str, QuantileStatistic] = field(default_factory=dict)
    users_by_period: tuple[int, ...] = ()
    """``users`` by the allocation period of their first exposure
    (`Experiment.allocation_periods`; filled only when the split changed while it ran)."""

    def mean_statistic(
        self, metric: str, binomial: bool
    ) -> ProportionStatistic | SampleMeanStatistic:
        total = float(self.sums.get(metric, 0.0))
        if binomial:
            return ProportionStatistic(n=self.users, sum=min(total, self.users))
        return SampleMeanStatistic(self.users, total, float(self.sums_of_squares.get(metric, 0.0)))

    def statistic(self, metric: Metric, cuped: bool) -> Statistic:
        if metric.kind == MetricKind.QUANTILE:
            nan = math.nan
            empty = QuantileStatistic(0, metric.quantile or nan, nan, nan, nan)
            return self.quantiles.get(metric.key, empty)
        if metric.kind == MetricKind.RATIO:
            num, den = metric.numerator or "", metric.denominator or ""
            return RatioStatistic(
                n=self.users,
                m_statistic=self.mean_statistic(num, binomial=False),
                d_statistic=self.mean_statistic(den, binomial=False),
                m_d_sum_of_products=float(self.products.get((num, den), 0.0)),
            )
        post = self.mean_statistic(metric.key, metric.kind == MetricKind.BINOMIAL)
        if cuped and metric.key in self.pre_sums:
            pre = SampleMeanStatistic(
                self.users,
                float(self.pre_sums[metric.key]),
                float(self.pre_sums_of_squares.get(metric.key, 0.0)),
            )
            return RegressionAdjustedStatistic(
                n=self.users,
                post_statistic=post,
                pre_statistic=pre,
                post_pre_sum_of_products=float(self.post_pre_products.get(metric.key, 0.0)),
            )
        return post


@dataclass(frozen=True)
class MetricRow:
    """One metric for one treatment against control."""

    metric: str
    role: str
    kind: str
    variant: str
    control_mean: float
    variant_mean: float
    lift: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float | None
    adjusted_p_value: float | None
    chance_to_beat_control: float | None
    significant: bool
    direction: Direction
    guardrail: GuardrailResult | None = None
    error: str = ""
    impact: ProjectedImpact | None = None  # of shipping, at 100 % traffic (mean/binomial)
    quantile: float | None = None  # level of a quantile metric (means are then quantiles)
    quantile_per_user: bool = False

    @property
    def label(self) -> str:
        """The metric's name for people: ``page_load_ms p90``, ``basket p50 per user``."""
        if self.quantile is None:
            return self.metric
        return f"{self.metric} p{self.quantile * 100:g}" + (
            " per user" if self.quantile_per_user else ""
        )


@dataclass(frozen=True)
class Scorecard:
    experiment_key: str
    engine: str
    control: str
    users: dict[str, int]
    srm: SrmResult
    rows: list[MetricRow]
    alpha: float
    correction: CorrectionMethod = "holm"  # of the adjusted p-values across metrics
    days_observed: float | None = None
    planned_days: float = DEFAULT_PLANNED_DAYS

    def primary(self) -> list[MetricRow]:
        return [r for r in self.rows if r.role == MetricRole.PRIMARY]

    def failing_guardrails(self) -> list[MetricRow]:
        return [r for r in self.rows if r.guardrail is not None and r.guardrail.status == "fail"]

    @property
    def total_users(self) -> int:
        return sum(self.users.values())


def build_scorecard(
    experiment: Experiment,
    data: Mapping[str, VariantSums],
    options: AnalysisOptions | None = None,
    cuped: bool = True,
    correction: CorrectionMethod = "holm",
    as_of: datetime | None = None,
    planned_days: float = DEFAULT_PLANNED_DAYS,
    metrics: Sequence[Metric] | None = None,
) -> Scorecard:
    """Analyse every metric of ``experiment`` (or ``metrics``) for every treatment against
    the first variant.

    Primary and secondary p-values are adjusted together across metrics x treatments
    (Holm by default, or ``"benjamini-hochberg"``); guardrails get a
    non-inferiority test against their margin. Mean and binomial metrics get the projected
    impact of shipping each treatment once the experiment has run (until its stop, or
    until ``as_of`` while it runs), per day and over ``planned_days``.
    """
    options = options or AnalysisOptions()
    keys = experiment.variant_keys()
    control_key, treatments = keys[0], keys[1:]
    empty = VariantSums(users=0)
    users = {key: data.get(key, empty).users for key in keys}
    srm = _srm(experiment, [data.get(key, empty) for key in keys])
    days = observed_days(experiment, as_of)

    rows: list[MetricRow] = []
    for metric in experiment.metrics if metrics is None else metrics:
        metric_options = AnalysisOptions(
            engine=options.engine,
            difference_type=options.difference_type,
            alternative=options.alternative,
            alpha=options.alpha,
            sequential_tuning_parameter=options.sequential_tuning_parameter,
            prior=options.prior,
            inverse=not metric.higher_is_better,
        )
        control = data.get(control_key, empty).statistic(metric, cuped)
        named = {key: data.get(key, empty).statistic(metric, cuped) for key in treatments}
        results = analyze_experiment(control, named, metric_options)
        impacts = projected_impacts(
            metric,
            results,
            sum(users.values()),
            traffic_share(experiment),
            days,
            planned_days,
        )
        for result in results:
            guardrail = None
            if metric.role == MetricRole.GUARDRAIL and metric.margin is not None:
                guardrail = non_inferiority_test(
                    control,
                    named[result.variant],
                    metric.margin,
                    options.difference_type,
                    inverse=not metric.higher_is_better,
                    alpha=options.alpha,
                )
            row = _row(metric, result, options.alpha, guardrail)
            rows.append(
                replace(
                    row,
                    impact=impacts.get(result.variant),
                    quantile=metric.quantile,
                    quantile_per_user=metric.quantile_per_user,
                )
            )
    return Scorecard(
        experiment_key=experiment.key,
        engine=options.engine,
        control=control_key,
        users=users,
        srm=srm,
        rows=_adjusted(rows, correction, options.alpha),
        alpha=options.alpha,
        correction=correction,
        days_observed=days,
        planned_days=planned_days,
    )


def _row(
    metric: Metric, result: VariantResult, alpha: float, guardrail: GuardrailResult | None
) -> MetricRow:
    if result.p_value is not None:
        significant = not result.error and result.p_value < alpha
    else:
        chance = result.chance_to_beat_control
        significant = chance is not None and (chance > 1 - alpha / 2 or chance < alpha / 2)
    direction: Direction = "flat"
    if significant and not math.isnan(result.estimate):
        improves = (result.estimate > 0) == metric.higher_is_better
        direction = "better" if improves else "worse"
    return MetricRow(
        metric=metric.key,
        role=str(metric.role),
        kind=str(metric.kind),
        variant=result.variant,
        control_mean=result.control_mean,
        variant_mean=result.treatment_mean,
        lift=result.estimate,
        std_error=result.std_error,
        ci_lower=result.ci_lower,
        ci_upper=result.ci_upper,
        p_value=result.p_value,
        adjusted_p_value=result.p_value,
        chance_to_beat_control=result.chance_to_beat_control,
        significant=significant,
        direction=direction,
        guardrail=guardrail,
        error=result.message if result.error else "",
    )


def _srm(experiment: Experiment, sums: list[VariantSums]) -> SrmResult:
    """SRM against the weights each user was assigned under (see `VariantSums`)."""
    periods = experiment.allocation_periods()
    if len(periods) == 1:
        return sample_ratio_mismatch([s.users for s in sums], periods[0][1])
    if not all(len(s.users_by_period) == len(periods) for s in sums if s.users):
        return SrmResult(
            math.nan, 0, math.nan, (), False, ErrorCode.INVALID_INPUT,
            "the split changed while the experiment ran; users per period are not known here",
        )  # fmt: skip
    counts = [[s.users_by_period[p] if s.users else 0 for s in sums] for p in range(len(periods))]
    return sample_ratio_mismatch_over_periods(counts, [weights for _, weights in periods])


def _adjusted(rows: list[MetricRow], correction: CorrectionMethod, alpha: float) -> list[MetricRow]:
    """Adjusts p-values of primary and secondary rows together; guardrails keep theirs."""
    tested = [
        i
        for i, r in enumerate(rows)
        if r.role != MetricRole.GUARDRAIL and r.p_value is not None and not r.error
    ]
    if not tested:
        return rows
    adjusted = adjust_p_values([rows[i].p_value for i in tested], correction)
    out = list(rows)
    for i, p in zip(tested, adjusted, strict=True):
        row = rows[i]
        significant = float(p) < alpha
        direction = row.direction if significant else "flat"
        out[i] = MetricRow(
            **{
                **row.__dict__,
                "adjusted_p_value": float(p),
                "significant": significant,
                "direction": direction,
            }
        )
    return out
