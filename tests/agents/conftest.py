"""Experiments simulated for the agents: SRM, a clear winner, a harmful guardrail, under-powered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest

from domain.experiments.values import Variant
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PlannedExperiment, simulate_traffic
from tests.support.shared import built_once
from tests.support.stores import copy_store

HALF = (Variant("control", "Control", 0.5), Variant("treatment", "Treatment", 0.5))


def planned(key: str, **truth) -> PlannedExperiment:
    return PlannedExperiment(
        key=key,
        name=key.replace("-", " ").title(),
        hypothesis=f"{key} improves conversion",
        description="simulated for agent tests",
        tags=("agents",),
        owner="qa",
        variants=HALF,
        **truth,
    )


SCENARIOS = {
    # key: (plan, users, days running) -> expected action
    "srm-checkout": (
        planned(
            "srm-checkout",
            conversion={"control": 0.1, "treatment": 0.1},
            lost_exposures={"treatment": 0.15},
        ),
        6000,
        10,
        "fix_srm",
    ),
    "winner-pricing": (
        planned("winner-pricing", conversion={"control": 0.10, "treatment": 0.14}),
        8000,
        14,
        "ship",
    ),
    "harmful-video": (
        planned(
            "harmful-video",
            conversion={"control": 0.08, "treatment": 0.08},
            latency_ms={"control": 1200.0, "treatment": 1450.0},
        ),
        4000,
        7,
        "stop",
    ),
    # a +3% lift on 2,000 users, halfway through: far too small to detect in time
    "underpowered-badge": (
        planned("underpowered-badge", conversion={"control": 0.10, "treatment": 0.103}),
        2000,
        14,
        "extend",
    ),
}


def build_scenarios(data_dir: Path) -> None:
    app = build_app(EventStoreSettings(data_dir=data_dir, event_store=""))
    now = datetime.now(UTC)
    for index, (key, (plan, users, days, _)) in enumerate(SCENARIOS.items()):
        app.create_experiment(
            key,
            plan.name,
            hypothesis=plan.hypothesis,
            tags=plan.tags,
            owner=plan.owner,
            variants=plan.variants,
            metrics=plan.metrics,
        )
        start = now - timedelta(days=days)
        app.start_experiment(key, at=start)
        commands = simulate_traffic(
            plan, app.experiment(key), users, start, seed=100 + index, days=days
        )
        while batch := list(islice(commands, 2000)):
            app.record(batch)
    app.close()


@pytest.fixture(scope="session")
def scenario_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_once(tmp_path_factory, "scenarios", build_scenarios)


@pytest.fixture
def scenario_dir(scenario_template: Path, tmp_path: Path) -> Path:
    """A fresh copy per test (recommendations and approvals change the store)."""
    return copy_store(scenario_template, tmp_path)
