"""With a Postgres event store, agent runs are checkpointed in Postgres and resume from there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

import anyio
import psycopg
import pytest

from agents.intelligence.runner import recommend_for, resume_with_decision
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import simulate_traffic
from tests.agents.conftest import SCENARIOS


def test_approval_resumes_from_postgres_checkpoints(postgres, tmp_path):
    url = postgres.url(postgres.create_database("agents"))
    settings = EventStoreSettings(data_dir=tmp_path, event_store=url)
    plan, users, days, expected = SCENARIOS["winner-pricing"]
    with bootstrap(settings) as services:
        app = services.app
        start = datetime.now(UTC) - timedelta(days=days)
        app.create_experiment(plan.key, plan.name, variants=plan.variants, metrics=plan.metrics)
        app.start_experiment(plan.key, at=start)
        commands = simulate_traffic(
            plan, app.experiment(plan.key), users, start, seed=101, days=days
        )
        while batch := list(islice(commands, 2000)):
            app.record(batch)
        state = anyio.run(recommend_for, services, plan.key, services.read_servers())
    assert state["proposal"]["action"] == expected and state["waiting_for_approval"]

    with psycopg.connect(url) as conn:  # the paused run lives in Postgres, not in a file
        threads = conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
    assert (state["run_id"],) in threads
    assert not (tmp_path / "agent_checkpoints.db").exists()

    with bootstrap(settings) as services:  # another process, later
        resumed = anyio.run(
            resume_with_decision, services, state["recommendation_id"], True, "alice"
        )
        experiment = services.app.experiment(plan.key)
    assert resumed["resumed"] and resumed["applied"][-1] == "conclude_experiment(ship treatment)"
    assert str(experiment.status) == "concluded"


@pytest.mark.slow
def test_runs_can_be_inspected(scenario_dir):
    import json

    from tests.agents.test_intelligence import neonblue

    state = json.loads(neonblue(scenario_dir, "recommend", "srm-checkout", "--json").stdout)
    shown = neonblue(scenario_dir, "approvals", "show", state["recommendation_id"])
    assert shown.returncode == 0, shown.stderr
    details = json.loads(shown.stdout)
    assert details["action"] == "fix_srm" and details["state"] == "pending"
    assert details["run_waiting_at"] == ["await_approval"] and details["run_checkpointed"]
    assert details["tool_calls"][0]["tool"] == "analyze_experiment_data"
