"""Real-time optimisation: Thompson reallocation under guardrails, applied only by policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import anyio
import pytest

from agents.common.toolbox import McpToolbox
from agents.optimization.process import optimise_once
from domain.experiments.values import Variant
from domain.intelligence.allocation import AllocationPolicyError
from infrastructure.allocation_policies import revoke_policy, set_policy
from infrastructure.bootstrap import bootstrap
from infrastructure.recommendations import recommendations
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PlannedExperiment, simulate_traffic
from tests.support.stores import copy_store

pytestmark = pytest.mark.xdist_group("test_optimization")  # the template is built once
THREE = (Variant("control", "C", 0.34), Variant("b", "B", 0.33), Variant("c", "C2", 0.33))


def plan(key: str, **truth) -> PlannedExperiment:
    return PlannedExperiment(
        key=key,
        name=key,
        hypothesis="h",
        description="d",
        tags=("bandit",),
        owner="qa",
        variants=THREE,
        **truth,
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four three-armed experiments with five days of traffic, simulated once per module."""
    data_dir = tmp_path_factory.mktemp("optimisation")
    experiments = [
        plan("bandit-auto", conversion={"control": 0.10, "b": 0.10, "c": 0.14}),
        plan("bandit-manual", conversion={"control": 0.10, "b": 0.10, "c": 0.14}),
        plan(
            "bandit-srm",
            conversion={"control": 0.10, "b": 0.10, "c": 0.14},
            lost_exposures={"c": 0.2},
        ),
        plan("not-opted-in", conversion={"control": 0.10, "b": 0.10, "c": 0.14}),
    ]
    with bootstrap(EventStoreSettings(data_dir=data_dir, event_store="")) as services:
        start = datetime.now(UTC) - timedelta(days=5)
        for index, p in enumerate(experiments):
            services.app.create_experiment(p.key, p.name, variants=p.variants, metrics=p.metrics)
            services.app.start_experiment(p.key, at=start)
            commands = simulate_traffic(p, services.app.experiment(p.key), 6000, start, seed=index)
            while batch := list(islice(commands, 3000)):
                services.app.record(batch)
        for key, auto in (("bandit-auto", True), ("bandit-manual", False), ("bandit-srm", True)):
            set_policy(services.app, key, auto_apply=auto, min_share=0.1, max_step=0.15, by="alice")
    return data_dir


@pytest.fixture
def store(template: Path, tmp_path: Path) -> EventStoreSettings:
    """A private copy of the template's event store (its read models are built by each test)."""
    return EventStoreSettings(data_dir=copy_store(template, tmp_path), event_store="")


def run_once(settings: EventStoreSettings):
    async def main():
        with bootstrap(settings) as services:
            async with McpToolbox(services.read_servers()) as toolbox:
                return await optimise_once(services, toolbox, seed=1)

    return {o.experiment_key: o for o in anyio.run(main)}


def test_policies_decide_what_happens(store):
    outcomes = run_once(store)
    assert set(outcomes) == {"bandit-auto", "bandit-manual", "bandit-srm"}
    assert outcomes["bandit-auto"].outcome == "applied"
    assert outcomes["bandit-manual"].outcome == "pending"
    assert outcomes["bandit-srm"].outcome == "unchanged"  # SRM: no bandit on broken data

    with bootstrap(store) as services:
        moved = services.app.experiment("bandit-auto").weights()
        untouched = services.app.experiment("bandit-manual").weights()
        recorded = {r.experiment_key: r for r in recommendations(services.app)}
    assert moved[2] == pytest.approx(0.33 + 0.15, abs=1e-3)  # best arm gains at most max_step
    assert min(moved) >= 0.1 - 1e-9 and sum(moved) == pytest.approx(1.0)
    assert untouched == [0.34, 0.33, 0.33]
    auto = recorded["bandit-auto"]
    assert auto.state == "applied" and auto.decided_by == "policy set by alice"
    assert auto.variant == "c" and auto.tool_calls[0]["tool"] == "analyze_experiment_data"
    assert recorded["bandit-manual"].state == "pending"


def test_revoked_policy_stops_optimisation(store):
    with bootstrap(store) as services:
        revoke_policy(services.app, "bandit-auto", "bob")
    assert "bandit-auto" not in run_once(store)


def test_invalid_policy_is_refused(store):
    with bootstrap(store) as services, pytest.raises(AllocationPolicyError, match="min_share"):
        set_policy(
            services.app, "bandit-auto", auto_apply=True, min_share=0.6, max_step=0.1, by="x"
        )
