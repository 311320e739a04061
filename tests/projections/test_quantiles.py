"""Quantile metrics from the analytics read model (chDB) against the raw values.

The reference is computed here from the generated values with numpy: sort, take the
order statistics of the ranks ``ceil(n p)`` and ``floor/ceil(n p -+ z sqrt(n p (1-p)))``,
and count per user the events at most the quantile.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

import numpy as np
import pytest
from rich.console import Console

from domain.experiments.values import Metric, MetricKind, MetricRole, Variant
from domain.participation.commands import RecordExposure, RecordMetric
from domain.statistics import QuantileClusteredStatistic, QuantileStatistic
from infrastructure.cli.scorecards import scorecard_table
from infrastructure.log_statistics import variant_sums as log_variant_sums
from mcp_servers.common.models import MetricResultOut
from projections.analytics.client import ChdbClient
from projections.analytics.model import AnalyticsModel
from projections.analytics.queries import quantile_statistics
from projections.log import LogReader
from projections.runner import ProjectionRunner
from tests.projections.scenario import START

Z = 1.959963984540054
METRICS = [
    Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL),
    Metric("page_load_ms", MetricRole.GUARDRAIL, MetricKind.QUANTILE, higher_is_better=False,
           margin=0.05, quantile=0.9),
    Metric("basket", MetricRole.SECONDARY, MetricKind.QUANTILE, quantile=0.5,
           quantile_per_user=True),
]  # fmt: skip


def reference(values: list[float], level: float) -> tuple[int, float, float, float]:
    data = np.sort(values)
    n = len(data)
    half = Z * math.sqrt(n * level * (1 - level))
    ranks = [math.ceil(n * level), math.floor(n * level - half), math.ceil(n * level + half)]
    return (n, *(float(data[min(max(r, 1), n) - 1]) for r in ranks))


def test_quantile_statistics_match_the_values(chdb_client: ChdbClient, prefix: str, sqlite_app):
    app = sqlite_app
    app.create_experiment(
        "speed", "Speed", variants=[Variant("control", "C", 0.5), Variant("fast", "F", 0.5)],
        metrics=METRICS,
    )  # fmt: skip
    app.start_experiment("speed", at=START)
    experiment = app.experiment("speed")
    rng = np.random.default_rng(7)
    loads: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    baskets: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    commands: list = []
    for i in range(700):
        user = f"u{i}"
        variant, _ = experiment.assignment_for(user)
        at = START + timedelta(hours=float(rng.uniform(0, 48)))
        if i % 10 == 0:  # before exposure: excluded from the analysis
            commands.append(RecordMetric("speed", user, f"{user}-early", at, "page_load_ms", 1e6))
        commands.append(RecordExposure("speed", user, f"{user}-x", at + timedelta(seconds=1)))
        if i % 25 == 0:
            continue  # exposed, no page loads
        speed = rng.gamma(4.0, 1.0)  # per-user level: events of a user are correlated
        for j in range(int(rng.poisson(2)) + 1):
            value = round(float(speed * rng.gamma(9.0, 30.0 if variant == "control" else 27.0)), 3)
            later = at + timedelta(minutes=j + 1)
            commands.append(RecordMetric("speed", user, f"{user}-l{j}", later, "page_load_ms", value))  # fmt: skip
            loads[variant][user].append(value)
        for j in range(int(rng.integers(0, 3))):
            amount = float(rng.integers(1, 60))
            commands.append(RecordMetric("speed", user, f"{user}-b{j}", at + timedelta(hours=1, minutes=j), "basket", amount))  # fmt: skip
            baskets[variant][user] += amount
    app.record(commands)
    model = AnalyticsModel(app, chdb_client, prefix)
    ProjectionRunner(LogReader(app), model.projection(), 500).catch_up()

    got = quantile_statistics(chdb_client, model.live_database(), experiment)
    assert set(got) == {"control", "fast"}
    for variant in ("control", "fast"):
        events = got[variant]["page_load_ms"]
        assert isinstance(events, QuantileClusteredStatistic)
        values = [v for user_values in loads[variant].values() for v in user_values]
        assert (events.n, events.quantile, events.lower, events.upper) == reference(values, 0.9)
        below = np.array([sum(v <= events.quantile for v in vs) for vs in loads[variant].values()])
        counts = np.array([len(vs) for vs in loads[variant].values()])
        assert events.n_clusters == len(loads[variant])
        assert events.below_sum == below.sum() and events.below_sum_squares == (below**2).sum()
        assert events.events_sum == counts.sum() == events.n
        assert events.events_sum_squares == (counts**2).sum()
        assert events.below_events_sum_of_products == (below * counts).sum()

        per_user = got[variant]["basket"]
        assert type(per_user) is QuantileStatistic and per_user.level == 0.5
        totals = list(baskets[variant].values())
        assert (per_user.n, per_user.quantile, per_user.lower, per_user.upper) == reference(
            totals, 0.5
        )

    replayed = log_variant_sums(app, "speed")["speed"]  # the event log alone agrees
    for variant in ("control", "fast"):
        assert replayed[variant].quantiles == got[variant]

    card = model.scorecard(experiment)
    rows = {row.metric: row for row in card.rows}
    guardrail = rows["page_load_ms"]
    assert not guardrail.error and guardrail.guardrail is not None
    assert guardrail.control_mean == got["control"]["page_load_ms"].quantile
    assert guardrail.impact is None  # a quantile has no per-user total to project
    assert rows["basket"].variant_mean == pytest.approx(got["fast"]["basket"].quantile)

    console = Console(record=True, width=220)  # the CLI's table and the MCP answer
    console.print(scorecard_table(card))
    text = console.export_text()
    assert "page_load_ms p90" in text and "basket p50 per user" in text
    answer = MetricResultOut.of(guardrail)
    assert (answer.kind, answer.quantile, answer.quantile_per_user) == ("quantile", 0.9, False)
    assert answer.control_mean == got["control"]["page_load_ms"].quantile
