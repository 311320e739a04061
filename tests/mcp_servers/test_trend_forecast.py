"""predict_experiment_trends: the cumulative lift rebuilt from forecast daily lifts.

The tool once fitted Holt's trend to the cumulative lift itself and answered "+4.2%
[-59.1%, +165.5%]" for an effect that had held at 10-11% for a week; the forecast and its
interval must now stay near a stable lift.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from mcp import Client

from infrastructure.bootstrap import Services, bootstrap
from infrastructure.settings import EventStoreSettings
from mcp_servers.clickhouse.trends import ArmDays, arm_days, cumulative_lifts, variant_trend
from tests.support.stores import copy_store

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.xdist_group("test_trend_forecast"),
]  # module fixture once
DAY = date(2026, 9, 1)
SUMMARY = re.compile(
    r"cumulative lift of conversion for treatment now [+-]\d+\.\d%, "
    r"forecast [+-]\d+\.\d% \[[+-]\d+\.\d%, [+-]\d+\.\d%\] in 14 days"
)


@pytest.fixture(scope="module")
def services(portfolio_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data = copy_store(portfolio_dir, tmp_path_factory.mktemp("trend-forecast"))
    with bootstrap(EventStoreSettings(data_dir=data, event_store="")) as built:
        yield built


def steady_days(count: int, partial_last: bool = False) -> ArmDays:
    """``count`` days of 1,000 users per arm converting at 10% and 11%; optionally a last
    day cut short after 30 users, with the treatment's conversions far below the rest."""
    days = ArmDays(
        dates=[DAY + timedelta(days=i) for i in range(count)],
        control_users=[1000] * count,
        control_sums=[100.0 + (i % 3 - 1) * 6 for i in range(count)],
        treatment_users=[1000] * count,
        treatment_sums=[110.0 + (i % 4 - 1.5) * 4 for i in range(count)],
    )
    if partial_last:
        for values, extra in zip(
            (days.control_users, days.control_sums, days.treatment_users, days.treatment_sums),
            (30, 3.0, 30, 1.0),
            strict=True,
        ):
            values.append(extra)
        days.dates.append(days.dates[-1] + timedelta(days=1))
    return days


def test_arm_days_align_the_two_queries():
    exposures = [(DAY, "control", 10), (DAY, "treatment", 12), (DAY, "other", 99)]
    exposures += [(DAY + timedelta(days=1), "treatment", 3)]
    # (date, variant, users with events, conversions, sum, sum of squares)
    daily = [(DAY, "control", 2, 2, 2.0, 2.0), (DAY + timedelta(days=2), "treatment", 1, 1, 1, 1)]
    days = arm_days(exposures, daily, "control", "treatment")
    assert days.dates == [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert days.control_users == [10, 0, 0] and days.treatment_users == [12, 3, 0]
    assert days.control_sums == [2.0, 0.0, 0.0] and days.treatment_sums == [0.0, 0.0, 1.0]
    lifts = [p.cumulative_lift for p in cumulative_lifts(days)]
    assert lifts == [pytest.approx(-1.0), pytest.approx(-1.0), pytest.approx(1 / 15 / 0.2 - 1)]
    assert [p.users for p in cumulative_lifts(days)] == [22, 25, 25]


def test_a_steady_lift_gives_a_steady_narrow_forecast(services):
    experiment = services.app.experiment("checkout-cta-contrast")
    trend = variant_trend(experiment, "treatment", steady_days(21), None, 14, 28, "conversion")
    assert SUMMARY.fullmatch(trend.summary), trend.summary
    assert len(trend.forecast) == 14
    assert all(0.09 < f < 0.11 for f in trend.forecast)
    assert trend.lower[-1] > 0.07 and trend.upper[-1] < 0.13
    # the interval widens with the horizon, yet narrows as observed days accrue
    widths = [hi - lo for lo, hi in zip(trend.lower, trend.upper, strict=True)]
    assert widths == sorted(widths)
    later = variant_trend(experiment, "treatment", steady_days(35), None, 14, 28, "conversion")
    assert later.upper[-1] - later.lower[-1] < widths[-1]


def test_a_partial_last_day_moves_only_the_lift_it_adds(services):
    experiment = services.app.experiment("checkout-cta-contrast")
    full = variant_trend(experiment, "treatment", steady_days(21), None, 14, 28, "conversion")
    cut = variant_trend(
        experiment, "treatment", steady_days(21, partial_last=True), None, 14, 28, "conversion"
    )
    assert len(cut.history) == 22
    assert abs(cut.forecast[-1] - full.forecast[-1]) < 0.002


def test_short_or_undefined_days_give_the_three_day_message(services):
    experiment = services.app.experiment("checkout-cta-contrast")
    days = steady_days(4)
    days.control_sums[1] = 0.0  # no control conversions: that day's lift is undefined
    days.treatment_users[0] = days.control_users[0] = 0
    days.treatment_sums[0] = days.control_sums[0] = 0.0
    trend = variant_trend(experiment, "treatment", days, None, 14, 28, "conversion")
    assert trend.summary == "treatment has 2 day(s) of data; trends need 3."
    assert trend.forecast == trend.lower == trend.upper == []
    assert len(trend.history) == 4


async def test_the_tool_forecasts_a_stable_lift_narrowly(services):
    async with Client(services.mcp_server("clickhouse")) as client:
        result = await client.call_tool(
            "predict_experiment_trends",
            {"experiment_id": "checkout-cta-contrast", "days_ahead": 14},
        )
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert not result.is_error, result.content
    trends = result.structured_content
    now = next(p for p in reversed(trends["history"]) if p["cumulative_lift"] is not None)
    lower, forecast, upper = trends["lower"][-1], trends["forecast"][-1], trends["upper"][-1]
    assert lower < now["cumulative_lift"] < upper
    assert abs(forecast - now["cumulative_lift"]) < 0.05
    # ~100 users a day: [-2.9%, +32.0%]; Holt on the cumulative lift said [-82%, +685%]
    assert upper - lower < 0.5
    assert "local-level" in listed["predict_experiment_trends"].description
