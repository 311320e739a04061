"""Random but valid event sequences for projection tests (hypothesis strategies)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from domain.experiments.values import Metric, MetricKind, MetricRole, Variant
from domain.participation.commands import ParticipationCommand, RecordExposure, RecordMetric
from infrastructure.application import NeonBlue

START = datetime(2025, 3, 1, tzinfo=UTC)
EXPERIMENTS = ("alpha", "beta")
METRICS = (
    Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL),
    Metric("revenue", MetricRole.SECONDARY, MetricKind.MEAN),
    Metric("sessions", MetricRole.SECONDARY, MetricKind.MEAN),
    Metric("rps", MetricRole.SECONDARY, MetricKind.RATIO, "revenue", "sessions"),
)


def create_experiments(app: NeonBlue) -> None:
    for key in EXPERIMENTS:
        app.create_experiment(
            key,
            f"Experiment {key}",
            hypothesis=f"{key} improves conversion",
            variants=[Variant("control", "Control", 0.5), Variant("treatment", "New", 0.5)],
            metrics=list(METRICS),
        )
        app.start_experiment(key, at=START)


@st.composite
def commands(draw: st.DrawFn, max_size: int = 120) -> list[ParticipationCommand]:
    """Exposures (some with a variant the client showed), metrics before/after exposure."""
    out: list[ParticipationCommand] = []
    size = draw(st.integers(1, max_size))
    for index in range(size):
        experiment = draw(st.sampled_from(EXPERIMENTS))
        user = f"u{draw(st.integers(0, 15))}"
        at = START + timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
        event_id = f"e{index}-{draw(st.integers(0, 3))}"  # duplicates happen
        if draw(st.booleans()):
            shown = draw(st.sampled_from([None, None, "control", "treatment"]))
            out.append(RecordExposure(experiment, user, event_id, at, shown))
        else:
            metric = draw(st.sampled_from(["conversion", "revenue", "sessions"]))
            value = 1.0 if metric == "conversion" else float(draw(st.integers(0, 500))) / 4
            out.append(RecordMetric(experiment, user, event_id, at, metric, value))
    return out


def chunks(draw: st.DrawFn, items: list[ParticipationCommand]) -> list[list[ParticipationCommand]]:
    """Splits commands into random consecutive chunks."""
    out, start = [], 0
    while start < len(items):
        size = draw(st.integers(1, max(1, len(items) // 2)))
        out.append(items[start : start + size])
        start += size
    return out


def traffic(app: NeonBlue, first: int, users: int) -> None:
    """Users ``first`` .. ``first + users - 1`` of ``alpha``: one exposure and one revenue
    metric each."""
    from domain.participation.commands import RecordExposure, RecordMetric

    batch = []
    for i in range(first, first + users):
        batch.append(RecordExposure("alpha", f"u{i}", f"x{i}", START))
        batch.append(RecordMetric("alpha", f"u{i}", f"m{i}", START, "revenue", i / 3))
    app.record(batch)
