"""A realistic wire-format event stream with known true effects, for `neonblue simulate`.

Built on the seeded `PORTFOLIO`: each user is bucketed with the experiment's own hashing,
comes back for a few sessions (one exposure each), may convert (and pay), and reports page
load times. Optional sample-ratio mismatch (lost treatment exposures) and novelty effects
(the lift starts higher and decays) plant known data-quality problems.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import orjson

from domain.experiments.aggregate import Experiment
from infrastructure.application import NeonBlue
from infrastructure.ingest.bus import Producer
from infrastructure.simulation import (
    COUNTRIES,
    COUNTRY_SHARES,
    DEVICE_SHARES,
    DEVICES,
    PORTFOLIO,
    PlannedExperiment,
)

USER_TOPIC, ANALYTICS_TOPIC = "user_events", "analytics_events"


@dataclass(frozen=True)
class TrafficPlan:
    experiments: int = 3
    users: int = 10_000  # per experiment, scaled by each planned experiment's ``traffic``
    effect: float | None = None  # relative lift of every treatment; None: the portfolio's
    srm: float = 0.0  # fraction of treatment exposures lost
    novelty: float = 0.0  # extra relative lift on day 0, decaying with a 2-day half-life
    sessions: float = 2.0  # mean sessions (exposures) per user
    unknown_fraction: float = 0.0  # share of users also sending an unclassified event type
    days: int = 14
    seed: int = 7


@dataclass(frozen=True, slots=True)
class WireMessage:
    topic: str
    key: bytes
    value: bytes


def planned(plan: TrafficPlan) -> list[PlannedExperiment]:
    """The first ``experiments`` of the portfolio, with ``effect`` applied if given."""
    if not 1 <= plan.experiments <= len(PORTFOLIO):
        raise ValueError(f"--experiments must be between 1 and {len(PORTFOLIO)}")
    chosen = list(PORTFOLIO[: plan.experiments])
    if plan.effect is None:
        return chosen
    result = []
    for experiment in chosen:
        control = experiment.variants[0].key
        base = experiment.conversion[control]
        conversion = {
            v.key: base if v.key == control else min(1.0, base * (1 + plan.effect))
            for v in experiment.variants
        }
        result.append(replace(experiment, conversion=conversion))
    return result


SIMULATION = "the simulation (neonblue demo / simulate)"
"""Who created and started the simulated experiments, as `audit history` shows it."""


def ensure_experiments(app: NeonBlue, plans: Sequence[PlannedExperiment], start: datetime) -> None:
    """Creates and starts the planned experiments that do not exist yet."""
    existing = set(app.experiment_keys())
    for p in plans:
        if p.key in existing:
            continue
        app.create_experiment(
            p.key, p.name, hypothesis=p.hypothesis, description=p.description,
            tags=p.tags, owner=p.owner, variants=p.variants, metrics=p.metrics, by=SIMULATION,
        )  # fmt: skip
        app.start_experiment(p.key, at=start, by=SIMULATION)


def wire_events(plan: TrafficPlan, start: datetime) -> Iterator[WireMessage]:
    """The stream, user by user in time order; event ids are unique and deterministic."""
    rng = np.random.default_rng(plan.seed)
    for index, experiment_plan in enumerate(planned(plan)):
        bucketing = Experiment.design(
            experiment_plan.key, experiment_plan.name, variants=experiment_plan.variants
        )
        yield from _experiment_events(plan, experiment_plan, bucketing, start, rng, index)


def _experiment_events(
    plan: TrafficPlan,
    ex: PlannedExperiment,
    bucketing: Experiment,
    start: datetime,
    rng: np.random.Generator,
    index: int,
) -> Iterator[WireMessage]:
    control = ex.variants[0].key
    users = max(1, round(plan.users * ex.traffic))
    arrivals = np.sort(rng.uniform(0, plan.days * 86400, users))
    segment_rng = np.random.default_rng(plan.seed + 10_000 + index)  # outcomes stay unchanged
    devices = segment_rng.choice(DEVICES, size=users, p=DEVICE_SHARES)
    countries = segment_rng.choice(COUNTRIES, size=users, p=COUNTRY_SHARES)
    for number in range(users):
        user = f"u{index}-{number:07d}"
        variant, _ = bucketing.assignment_for(user)
        if variant is None:
            continue
        at = start + timedelta(seconds=float(arrivals[number]))
        key = user.encode()
        day = arrivals[number] / 86400
        lift = ex.conversion[variant] / ex.conversion[control] - 1
        lift *= 1 + plan.novelty * 0.5 ** (day / 2)
        rate = min(1.0, ex.conversion[control] * (1 + lift))
        sessions = 1 + int(rng.poisson(max(plan.sessions - 1, 0)))
        lost = variant != control and rng.uniform() < plan.srm
        if not lost and ex.lost_exposures.get(variant):  # the portfolio's own logging bug
            lost = rng.uniform() < ex.lost_exposures[variant]
        for session in range(sessions):
            seen = at + timedelta(hours=6 * session)
            if not lost:
                segment = {"device": str(devices[number]), "country": str(countries[number])}
                yield _message(USER_TOPIC, key, f"{user}:{ex.key}:x{session}", user, ex.key,
                               "exposure", seen, variant=variant,
                               properties={"segment": segment})  # fmt: skip
            if ex.latency_ms:
                latency = float(rng.gamma(16.0, ex.latency_ms[variant] / 16.0))
                yield _message(ANALYTICS_TOPIC, key, f"{user}:{ex.key}:l{session}", user, ex.key,
                               "page_load", seen, value=round(latency, 1))  # fmt: skip
        if rng.uniform() < rate:
            converted = at + timedelta(minutes=float(rng.exponential(30.0)))
            yield _message(USER_TOPIC, key, f"{user}:{ex.key}:c", user, ex.key, "conversion",
                           converted)  # fmt: skip
            if ex.revenue_mean:
                value = float(rng.lognormal(np.log(ex.revenue_mean[variant]) - 0.18, 0.6))
                yield _message(USER_TOPIC, key, f"{user}:{ex.key}:p", user, ex.key, "purchase",
                               converted, value=round(value, 2))  # fmt: skip
        if plan.unknown_fraction and rng.uniform() < plan.unknown_fraction:
            yield _message(ANALYTICS_TOPIC, key, f"{user}:{ex.key}:s", user, ex.key,
                           "scroll_depth", at, value=float(rng.uniform(0, 100)))  # fmt: skip


def _message(
    topic: str,
    key: bytes,
    event_id: str,
    user: str,
    experiment: str,
    event_type: str,
    at: datetime,
    **fields: object,
) -> WireMessage:
    event = {
        "schema_version": 2,
        "event_id": event_id,
        "user_id": user,
        "experiment_id": experiment,
        "event_type": event_type,
        "timestamp": at.isoformat(),
        "routing_metadata": {"source_system": "neonblue-simulator"},
        **fields,
    }
    return WireMessage(topic, key, orjson.dumps(event))  # compact JSON, as producers send it


def publish(
    producer: Producer,
    messages: Iterator[WireMessage],
    rate: float = 0.0,
    flush_every: int = 50_000,
) -> int:
    """Publishes the messages (at ``rate`` per second when > 0); returns how many."""
    started = time.monotonic()
    count = 0
    for message in messages:
        producer.produce(message.topic, message.value, message.key)
        count += 1
        if rate > 0 and count % 100 == 0:
            ahead = count / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        if count % flush_every == 0:
            producer.flush()
    producer.flush()
    return count
