"""Small builders shared by tests."""

from __future__ import annotations

from typing import Any

from domain.experiments.values import Metric, MetricKind, MetricRole, Namespace, Variant


def two_variants(control: float = 0.5) -> list[Variant]:
    return [Variant("control", "Control", control), Variant("treatment", "Treatment", 1 - control)]


def conversion_metrics() -> list[Metric]:
    return [
        Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL),
        Metric("revenue", MetricRole.SECONDARY, MetricKind.MEAN),
        Metric("sessions", MetricRole.SECONDARY, MetricKind.MEAN),
        Metric(
            "revenue_per_session",
            MetricRole.SECONDARY,
            MetricKind.RATIO,
            numerator="revenue",
            denominator="sessions",
        ),
        Metric(
            "page_load_ms",
            MetricRole.GUARDRAIL,
            MetricKind.MEAN,
            higher_is_better=False,
            margin=0.05,
        ),
    ]


def create_in_namespace(app: Any, key: str, start: float, end: float) -> None:
    """A startable draft on the slice [start, end) of the namespace ``checkout``."""
    app.create_experiment(
        key, key, variants=two_variants(), metrics=conversion_metrics(),
        namespace=Namespace("checkout", start, end),
    )  # fmt: skip
