"""Small builders shared by tests."""

from __future__ import annotations

from domain.experiments.values import Metric, MetricKind, MetricRole, Variant


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
