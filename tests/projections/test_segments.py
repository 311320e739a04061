"""Per-segment statistics from the analytics read model (chDB) against the raw values.

Each (dimension, segment) of the exposures gets the statistics the scorecard uses (users,
sums, squares, a ratio's cross products, quantiles with their order-statistic bounds),
computed here from the generated values; the per-segment analysis then reads a ratio as
numerator per denominator and a quantile as a quantile (segments once came back empty for a
ratio primary metric, and as rows without statistics for a quantile).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta

import numpy as np
import pytest

from domain.experiments.values import Metric, MetricKind, MetricRole, Variant
from domain.participation.commands import RecordExposure, RecordMetric
from domain.statistics import QuantileClusteredStatistic
from mcp_servers.clickhouse.segments import segment_rows
from projections.analytics.client import ChdbClient
from projections.analytics.model import AnalyticsModel
from projections.analytics.queries import segment_sums, variant_sums
from projections.log import LogReader
from projections.runner import ProjectionRunner
from tests.projections.scenario import START
from tests.projections.test_quantiles import reference

METRICS = [
    Metric("aov", MetricRole.PRIMARY, MetricKind.RATIO, numerator="revenue", denominator="orders"),
    Metric("conversion", MetricRole.SECONDARY, MetricKind.BINOMIAL),
    Metric("page_load_ms", MetricRole.GUARDRAIL, MetricKind.QUANTILE, higher_is_better=False,
           quantile=0.9),
    Metric("basket", MetricRole.SECONDARY, MetricKind.QUANTILE, quantile=0.5,
           quantile_per_user=True),
]  # fmt: skip
DEVICES = ("mobile", "desktop", "", None)  # "" is shown as "unknown"; None: no device


class User:
    def __init__(self) -> None:
        self.values: dict[str, float] = defaultdict(float)
        self.loads: list[float] = []
        self.baskets = 0


pytestmark = pytest.mark.xdist_group("test_segments")  # its module fixtures are built once


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from infrastructure.bootstrap import build_app
    from infrastructure.settings import EventStoreSettings

    root = tmp_path_factory.mktemp("segments")
    app = build_app(EventStoreSettings(data_dir=root, event_store=f"sqlite:///{root}/e.db"))
    app.create_experiment(
        "checkout", "Checkout",
        variants=[Variant("control", "C", 0.5), Variant("express", "E", 0.5)], metrics=METRICS,
    )  # fmt: skip
    app.start_experiment("checkout", at=START)
    experiment = app.experiment("checkout")
    rng = np.random.default_rng(11)
    users: dict[tuple[str, str, str], dict[str, User]] = defaultdict(dict)  # (dim, seg, variant)
    commands: list = []
    for i in range(900):
        user_id, (variant, _) = f"u{i}", experiment.assignment_for(f"u{i}")
        segment = {"country": ("de", "fr")[i % 2]}
        device = DEVICES[i % 4]
        if device is not None:
            segment["device"] = device
        at = START + timedelta(hours=float(rng.uniform(0, 48)))
        context = {"segment": segment}
        commands.append(RecordExposure("checkout", user_id, f"{user_id}-x", at, None, context))
        user = User()
        for dimension, value in segment.items():
            users[(dimension, value, variant)][user_id] = user
        lift = 1.2 if variant == "express" and device == "mobile" else 1.0
        for j in range(int(rng.poisson(1.5 * lift))):
            amount = round(float(rng.gamma(3.0, 20.0)), 2)
            later = at + timedelta(minutes=j + 1)
            commands += [
                RecordMetric("checkout", user_id, f"{user_id}-o{j}", later, "orders", 1.0),
                RecordMetric("checkout", user_id, f"{user_id}-r{j}", later, "revenue", amount),
            ]
            user.values["orders"] += 1.0
            user.values["revenue"] += amount
        if user.values["orders"]:
            commands.append(RecordMetric("checkout", user_id, f"{user_id}-c", at, "conversion", 1))
            user.values["conversion"] = 1.0
        for j in range(int(rng.integers(0, 4))):
            load = round(float(rng.gamma(9.0, 30.0)), 3)
            later = at + timedelta(seconds=j + 1)
            commands.append(RecordMetric("checkout", user_id, f"{user_id}-l{j}", later, "page_load_ms", load))  # fmt: skip
            user.loads.append(load)
        if i % 5:
            basket = float(rng.integers(1, 40))
            commands.append(RecordMetric("checkout", user_id, f"{user_id}-b", at, "basket", basket))
            user.values["basket"] = basket
            user.baskets = 1
    app.record(commands)
    yield app, experiment, users
    app.close()


@pytest.fixture(scope="module")
def database(world, chdb_client: ChdbClient) -> str:
    app, _, _ = world
    model = AnalyticsModel(app, chdb_client, f"t{uuid.uuid4().hex[:10]}")
    ProjectionRunner(LogReader(app), model.projection(), 500).catch_up()
    return model.live_database()


def test_each_segment_has_the_statistics_of_its_users(world, chdb_client, database):
    _, experiment, users = world
    got = segment_sums(chdb_client, database, experiment)
    expected_segments = {(d, s) for d, s, _ in users}
    assert set(got) == expected_segments  # every dimension, "" included (shown as unknown)
    for (dimension, segment, variant), members in users.items():
        sums = got[(dimension, segment)][variant]
        assert sums.users == len(members)
        for metric in ("orders", "revenue", "conversion"):
            values = np.array([u.values[metric] for u in members.values()])
            assert sums.sums[metric] == pytest.approx(values.sum(), rel=1e-12)
            assert sums.sums_of_squares[metric] == pytest.approx((values**2).sum(), rel=1e-12)
        products = sum(u.values["revenue"] * u.values["orders"] for u in members.values())
        assert sums.products[("revenue", "orders")] == pytest.approx(products, rel=1e-12)

        loads = sums.quantiles["page_load_ms"]
        assert isinstance(loads, QuantileClusteredStatistic)
        values = [v for u in members.values() for v in u.loads]
        assert (loads.n, loads.quantile, loads.lower, loads.upper) == reference(values, 0.9)
        assert loads.n_clusters == sum(1 for u in members.values() if u.loads)
        totals = [u.values["basket"] for u in members.values() if u.baskets]
        baskets = sums.quantiles["basket"]
        assert (baskets.n, baskets.quantile, baskets.lower, baskets.upper) == reference(totals, 0.5)

    only = segment_sums(chdb_client, database, experiment, "country", quantiles=["basket"])
    assert {m for v in only[("country", "de")].values() for m in v.quantiles} == {"basket"}
    device = segment_sums(chdb_client, database, experiment, "device")
    assert set(device) == {k for k in expected_segments if k[0] == "device"}
    assert device[("device", "mobile")] == got[("device", "mobile")]
    overall = variant_sums(chdb_client, database, experiment)  # a dimension every user has
    for variant, whole in overall.items():
        parts = [got[("country", c)][variant] for c in ("de", "fr")]
        assert whole.users == sum(p.users for p in parts)
        assert whole.sums["revenue"] == pytest.approx(sum(p.sums["revenue"] for p in parts))


def test_segments_analyse_a_ratio_as_a_ratio_and_a_quantile_as_a_quantile(
    world, chdb_client, database
):
    _, experiment, users = world
    sums = segment_sums(chdb_client, database, experiment, "device")
    metrics = {m.key: m for m in METRICS}
    rows = segment_rows(experiment, metrics["aov"], sums)
    assert [(r.segment, r.variant) for r in rows] == [
        ("desktop", "express"), ("mobile", "express"), ("unknown", "express")
    ]  # fmt: skip
    for row in rows:
        assert row.statistic == "ratio" and row.metric == "aov"
        segment = "" if row.segment == "unknown" else row.segment
        for variant, shown in (("control", row.control_mean), ("express", row.variant_mean)):
            members = users[("device", segment, variant)].values()
            revenue = sum(u.values["revenue"] for u in members)
            assert shown == pytest.approx(revenue / sum(u.values["orders"] for u in members))
        assert row.ci_lower is not None and row.ci_lower < row.relative_lift < row.ci_upper

    quantiles = segment_rows(experiment, metrics["page_load_ms"], sums)
    assert [r.segment for r in quantiles] == ["desktop", "mobile", "unknown"]
    quantile = quantiles[0]
    assert quantile.statistic == "p90"
    assert (
        quantile.control_mean
        == sums[("device", "desktop")]["control"].quantiles["page_load_ms"].quantile
    )
    assert None not in (quantile.relative_lift, quantile.ci_lower, quantile.ci_upper)
    per_user = segment_rows(experiment, metrics["basket"], sums)
    assert {r.statistic for r in per_user} == {"p50 of users' totals"}
