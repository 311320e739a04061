"""The HTML report renders offline in headless Chromium, without console errors, with charts."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from domain.experiments.values import Metric, MetricKind, MetricRole
from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from infrastructure.audit.report import build_report
from infrastructure.audit.report_data import report_data
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.audit.chromium import render
from tests.audit.scenario import T0
from tests.factories import conversion_metrics, two_variants
from tests.support.browser import Console, box, check_lift_chart, chromium, inside

pytestmark = pytest.mark.xdist_group("test_report")  # one worker builds the module's fixture

PLATFORMS = ("ios", "android", "web")


@pytest.fixture(scope="module")
def reported_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NeonBlue]:
    """Ten days of traffic for 2,000 users, treatment converting better, three platforms."""
    path = tmp_path_factory.mktemp("report")
    app = build_app(EventStoreSettings(data_dir=path, event_store=f"sqlite:///{path / 'e.db'}"))
    app.create_experiment("checkout", "Checkout", hypothesis="Green converts better",
                          variants=two_variants(), metrics=conversion_metrics())  # fmt: skip
    app.start_experiment("checkout", at=T0)
    rng = np.random.default_rng(3)
    experiment = app.experiment("checkout")
    commands: list = []
    for i in range(2000):
        user, at = f"u{i}", T0 + timedelta(seconds=float(rng.uniform(0, 10 * 86400)))
        variant, _ = experiment.assignment_for(user)
        platform = PLATFORMS[i % 3]
        commands.append(RecordExposure("checkout", user, f"{user}x", at, variant, {"platform": platform}))  # fmt: skip
        commands.append(RecordMetric("checkout", user, f"{user}s", at, "sessions", float(rng.integers(1, 4))))  # fmt: skip
        commands.append(RecordMetric("checkout", user, f"{user}l", at, "page_load_ms", float(rng.gamma(16, 20))))  # fmt: skip
        if rng.uniform() < (0.10 if variant == "control" else 0.14):
            later = at + timedelta(minutes=20)
            commands.append(RecordMetric("checkout", user, f"{user}c", later, "conversion"))
            commands.append(RecordMetric("checkout", user, f"{user}r", later, "revenue", float(rng.gamma(4, 10))))  # fmt: skip
    app.record(commands)
    yield app
    app.close()


def test_report_series_come_from_the_log(reported_app: NeonBlue):
    before = datetime.now(UTC)
    data = report_data(reported_app, "checkout", segment_key="platform")
    after = datetime.now(UTC)
    assert len(data.days) in (10, 11)
    assert sum(sum(v) for v in data.exposed_per_day.values()) == 2000
    assert {r.segment for r in data.segments} == set(PLATFORMS)
    final = data.lift["treatment"][-1]
    assert final is not None and final.lower < final.estimate < final.upper
    widths = [i.upper - i.lower for i in data.lift["treatment"] if i is not None]
    assert widths[-1] < widths[1]  # the confidence sequence narrows as users arrive
    assert data.scorecard is not None and data.scorecard.total_users == 2000
    assert data.partial_last_day  # traffic stops mid-day: the last day is not complete
    conversion = next(r for r in data.scorecard.rows if r.metric == "conversion")
    effect = conversion.variant_mean - conversion.control_mean  # absolute, per user
    days = data.scorecard.days_observed  # as `results`: a running experiment's, up to now
    assert (before - T0).total_seconds() / 86_400 <= days <= (after - T0).total_seconds() / 86_400
    assert conversion.impact.per_day == pytest.approx(effect * 2000 / days, rel=1e-9)


def test_report_renders_offline_without_console_errors(reported_app: NeonBlue, tmp_path: Path):
    page = tmp_path / "report.html"
    page.write_text(build_report(reported_app, "checkout", "platform"), encoding="utf-8")
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched
    charts = html.count('<figure class="chart"')
    assert charts == 1 + 1 + len(conversion_metrics()) + 2 + 1  # lift, daily, SRM x2, segments
    assert "impact / day at 100 %</th><th>over 28 days</th>" in html
    rendered = render(page)
    assert rendered.console == []
    assert f'data-charts="{charts}"' in rendered.dom  # the page's own script ran

    with chromium() as browser:
        console = Console()
        tab = console.watch(browser.new_page(viewport={"width": 800, "height": 1200}))
        tab.goto(page.as_uri())
        assert console.errors == []
        check_lift_chart(tab, "lift-treatment")
        # the last day of data ends mid-day: it is shaded as partial on every daily chart
        for chart in ("lift-treatment", "exposures", "srm-p"):
            partial = box(tab, f'[id="{chart}-partial-day"]')
            assert inside(partial, box(tab, f'[id="{chart}-plot"]'))
        assert tab.locator('[id="exposures-line-1"]').count() == 1  # one line per variant
        assert tab.locator('[id^="srm-users-bars-1-"]').count() == 2  # expected, per variant
        assert tab.locator('[id="segments-intervals"]').count() == 1
        shot = tab.locator("#lift-treatment").screenshot()
        assert Image.open(io.BytesIO(shot)).size[0] >= 600  # the chart is drawn at full width


def test_console_errors_are_caught(tmp_path: Path):
    """The check above can fail: a page with a script error is reported."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('bad'); missing();</script></body></html>")
    messages = render(page).console
    assert any("missing is not defined" in m for m in messages)


def test_report_of_a_quantile_guardrail(tmp_path: Path):
    app = build_app(
        EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'e.db'}")
    )
    metrics = [Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL),
               Metric("page_load_ms", MetricRole.GUARDRAIL, MetricKind.QUANTILE,
                      higher_is_better=False, quantile=0.9)]  # fmt: skip
    app.create_experiment("speed", "Speed", variants=two_variants(), metrics=metrics)
    app.start_experiment("speed", at=T0)
    experiment, rng = app.experiment("speed"), np.random.default_rng(5)
    loads: dict[str, list[float]] = {"control": [], "treatment": []}
    commands: list = []
    for i in range(600):
        user, at = f"u{i}", T0 + timedelta(hours=float(rng.uniform(0, 72)))
        variant, _ = experiment.assignment_for(user)
        commands.append(RecordExposure("speed", user, f"{user}x", at))
        for j in range(2):
            value = float(rng.gamma(9, 30))
            commands.append(RecordMetric("speed", user, f"{user}l{j}", at, "page_load_ms", value))
            loads[variant].append(value)
    app.record(commands)
    data = report_data(app, "speed")
    row = data.scorecard.rows[1]
    assert not row.error and row.label == "page_load_ms p90"
    assert row.control_mean == np.quantile(loads["control"], 0.9, method="inverted_cdf")
    assert data.means["page_load_ms"]["treatment"][-1] == row.variant_mean
    html = build_report(app, "speed")
    assert "page_load_ms p90 (guardrail)" in html and "cumulative p90 per variant" in html
    app.close()


def test_the_scorecard_counts_days_beyond_the_chart(tmp_path: Path):
    """The daily chart stops at its first 120 days; the scorecard and segments must not
    (users exposed on day 130 were left out of both). Segments are the dimensions of the
    exposure's segment, as `segments --by` reads them (the report found only '(none)')."""
    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    app.create_experiment("long", "Long", variants=two_variants(), metrics=conversion_metrics())
    app.start_experiment("long", at=T0)
    commands: list = []
    for i in range(40):
        user, at = f"u{i}", T0 + timedelta(days=0 if i < 20 else 130)
        segment = {"device": "mobile" if i % 2 else "desktop"}
        commands.append(RecordExposure("long", user, f"{user}x", at, None, {"segment": segment}))
        commands.append(RecordMetric("long", user, f"{user}c", at, "conversion"))
    app.record(commands)
    data = report_data(app, "long", segment_key="device")
    assert len(data.days) == 120
    assert data.scorecard.total_users == 40
    assert {r.segment for r in data.segments} == {"mobile", "desktop"}
    assert sum(sum(r.users.values()) for r in data.segments if r.variant == "treatment") == 40
    app.close()
