"""A seeded, realistic experiment portfolio and user traffic with known true effects.

The demo and `neonblue simulate` use it; tests use it to check that analyses recover the
planted effects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole, Variant
from domain.participation.commands import ParticipationCommand, RecordExposure, RecordMetric


@dataclass(frozen=True)
class PlannedExperiment:
    """An experiment definition plus the truth the simulator plants in its traffic.

    ``conversion`` maps variant -> true conversion rate; ``revenue_mean`` the mean order
    value of converters; ``latency_ms`` the mean page load time (a guardrail);
    ``lost_exposures`` the share of a variant's exposures a logging bug drops (a sample
    ratio mismatch); ``traffic`` the experiment's users relative to the plan's ``users``.
    ``story`` says in one line what was planted, for printing next to the verdicts.
    """

    key: str
    name: str
    hypothesis: str
    description: str
    tags: tuple[str, ...]
    owner: str
    variants: tuple[Variant, ...]
    conversion: dict[str, float]
    revenue_mean: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    lost_exposures: dict[str, float] = field(default_factory=dict)  # variant -> share lost (SRM)
    traffic: float = 1.0
    story: str = ""

    @property
    def metrics(self) -> list[Metric]:
        metrics = [Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)]
        if self.revenue_mean:
            metrics.append(Metric("revenue", MetricRole.SECONDARY, MetricKind.MEAN))
        if self.latency_ms:
            metrics.append(
                Metric(
                    "page_load_ms",
                    MetricRole.GUARDRAIL,
                    MetricKind.MEAN,
                    higher_is_better=False,
                    margin=0.05,
                )
            )
        return metrics

    def true_lift(self, variant: str) -> float:
        control = self.variants[0].key
        return self.conversion[variant] / self.conversion[control] - 1

    def true_effect(self, metric: str, variant: str) -> float | None:
        """The planted relative effect of ``variant`` on ``metric`` (None: not simulated).

        Revenue is per exposed user (conversion x order value), page load per session.
        """
        control = self.variants[0].key
        if metric == "conversion":
            return self.true_lift(variant)
        if metric == "revenue" and self.revenue_mean:
            per_user = {v: self.conversion[v] * self.revenue_mean[v] for v in (variant, control)}
            return per_user[variant] / per_user[control] - 1
        if metric == "page_load_ms" and self.latency_ms:
            return self.latency_ms[variant] / self.latency_ms[control] - 1
        return None


DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARES = (0.55, 0.38, 0.07)
COUNTRIES = ("US", "GB", "DE", "IN", "BR")
COUNTRY_SHARES = (0.4, 0.15, 0.15, 0.2, 0.1)


def _half(a: str, b: str) -> tuple[Variant, ...]:
    return (Variant("control", a, 0.5), Variant("treatment", b, 0.5))


PORTFOLIO: tuple[PlannedExperiment, ...] = (
    # a clear winner: enough traffic for the sequential test to see a +12.5% conversion lift
    PlannedExperiment(
        key="checkout-cta-contrast",
        name="High-contrast checkout button",
        hypothesis="A high-contrast green 'Place order' button increases checkout conversion.",
        description="Checkout page CTA colour test on web and mobile web.",
        tags=("checkout", "web", "conversion"),
        owner="growth-team",
        variants=_half("Blue button", "Green high-contrast button"),
        conversion={"control": 0.40, "treatment": 0.45},
        revenue_mean={"control": 54.0, "treatment": 54.0},
        traffic=1.5,
        story="treatment converts +12.5% (a real winner)",
    ),
    # a logging bug drops 10% of the treatment's exposures: results cannot be trusted
    PlannedExperiment(
        key="pricing-annual-discount",
        name="Annual plan discount banner",
        hypothesis="Showing a 20% annual discount on the pricing page increases paid sign-ups.",
        description="Pricing page banner offering 20% off annual billing.",
        tags=("pricing", "monetization"),
        owner="monetization",
        variants=_half("No banner", "20% annual discount banner"),
        conversion={"control": 0.04, "treatment": 0.047},
        revenue_mean={"control": 120.0, "treatment": 102.0},
        lost_exposures={"treatment": 0.10},
        story="10% of treatment exposures lost by a logging bug (SRM)",
    ),
    # no effect at all: the verdict must stay flat
    PlannedExperiment(
        key="mobile-onboarding-checklist",
        name="Mobile onboarding checklist",
        hypothesis="A three-step checklist in the mobile app improves day-7 activation.",
        description="Adds a progress checklist to the first session of the iOS and Android apps.",
        tags=("onboarding", "mobile", "activation"),
        owner="mobile-team",
        variants=_half("Classic onboarding", "Checklist onboarding"),
        conversion={"control": 0.30, "treatment": 0.30},
        story="no effect (truly flat)",
    ),
    # harm on a guardrail: pages load 21% slower; stopped when the guardrail fired
    PlannedExperiment(
        key="homepage-hero-video",
        name="Homepage hero video",
        hypothesis="An autoplay product video in the homepage hero increases sign-ups.",
        description="Replaces the static hero image with a 20-second autoplay video.",
        tags=("homepage", "web", "acquisition"),
        owner="brand-team",
        variants=_half("Static image", "Autoplay video"),
        conversion={"control": 0.08, "treatment": 0.08},
        latency_ms={"control": 1200.0, "treatment": 1450.0},
        traffic=0.5,
        story="page load +21% in treatment, no conversion effect (harmful)",
    ),
    # three arms for the bandit: lower thresholds convert more but earn less per order
    PlannedExperiment(
        key="free-shipping-threshold",
        name="Free shipping threshold",
        hypothesis="Lowering the free-shipping threshold raises order conversion.",
        description="Three thresholds for free shipping: $50 (current), $35 and $25.",
        tags=("checkout", "shipping", "pricing"),
        owner="growth-team",
        variants=(
            Variant("control", "$50 threshold", 0.34),
            Variant("t35", "$35 threshold", 0.33),
            Variant("t25", "$25 threshold", 0.33),
        ),
        conversion={"control": 0.10, "t35": 0.11, "t25": 0.12},
        revenue_mean={"control": 61.0, "t35": 57.0, "t25": 52.0},
        story="t35 +10%, t25 +20% conversion; smaller orders (multi-arm)",
    ),
)


def simulate_traffic(
    plan: PlannedExperiment,
    experiment: Experiment,
    users: int,
    start: datetime,
    seed: int = 7,
    days: int = 14,
) -> Iterator[ParticipationCommand]:
    """Exposure and metric commands for ``users`` users, in time order per user.

    Assignment uses the experiment's own bucketing, so the planted effect lands on the
    variant the platform assigns.
    """
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, days * 86400, users))
    uniforms = rng.uniform(size=users)
    segment_rng = np.random.default_rng(seed + 10_000)  # separate stream: outcomes unchanged
    devices = segment_rng.choice(DEVICES, size=users, p=DEVICE_SHARES)
    countries = segment_rng.choice(COUNTRIES, size=users, p=COUNTRY_SHARES)
    for index in range(users):
        user_id = f"{plan.key[:3]}-user-{index:06d}"
        variant, _ = experiment.assignment_for(user_id)
        if variant is None:
            continue
        at = start + timedelta(seconds=float(offsets[index]))
        if rng.uniform() < plan.lost_exposures.get(variant, 0.0):
            continue  # a logging bug drops this user's exposure: sample ratio mismatch
        segment = {"device": str(devices[index]), "country": str(countries[index])}
        yield RecordExposure(
            plan.key, user_id, f"{user_id}:exposure", at, variant, {"segment": segment}
        )
        if plan.latency_ms:
            latency = float(rng.gamma(16.0, plan.latency_ms[variant] / 16.0))
            yield RecordMetric(plan.key, user_id, f"{user_id}:latency", at, "page_load_ms", latency)
        if uniforms[index] < plan.conversion[variant]:
            converted_at = at + timedelta(minutes=float(rng.exponential(30.0)))
            yield RecordMetric(
                plan.key, user_id, f"{user_id}:conversion", converted_at, "conversion"
            )
            if plan.revenue_mean:
                mean = plan.revenue_mean[variant]
                value = float(rng.lognormal(np.log(mean) - 0.18, 0.6))
                yield RecordMetric(
                    plan.key,
                    user_id,
                    f"{user_id}:revenue",
                    converted_at,
                    "revenue",
                    round(value, 2),
                )
