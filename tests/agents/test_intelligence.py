"""The experiment-intelligence graph end to end, through real stdio MCP servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from agents.intelligence.runner import recommend_for
from infrastructure.bootstrap import bootstrap
from infrastructure.recommendations import recommendations
from infrastructure.settings import EventStoreSettings
from tests.agents.conftest import SCENARIOS


def settings_for(data_dir: Path) -> EventStoreSettings:
    return EventStoreSettings(data_dir=data_dir, event_store="")


def test_each_situation_gets_the_right_recommendation(scenario_dir):
    with bootstrap(settings_for(scenario_dir)) as services:
        for key, (*_, expected) in SCENARIOS.items():
            state = anyio.run(recommend_for, services, key, services.read_servers())
            assert state["proposal"]["action"] == expected, (key, state["narrative"])
            assert state["waiting_for_approval"] == (expected in ("fix_srm", "stop", "ship"))
            assert state["tool_calls"][0]["tool"] == "analyze_experiment_data"
        recorded = recommendations(services.app)
    assert [r.experiment_key for r in recorded] == list(SCENARIOS)
    winner = next(r for r in recorded if r.experiment_key == "winner-pricing")
    assert winner.variant == "treatment" and winner.state == "pending"
    assert winner.positions["postgresql"] > 0  # the read-model position the answer used
    assert winner.tool_calls[0]["arguments"] == {
        "experiment_id": "winner-pricing",
        "engine": "sequential",
    }
    assert winner.numbers["lift"] > 0.2


def neonblue(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NEONBLUE_DATA_DIR": str(data_dir),
        "NEONBLUE_EVENT_STORE": "",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=str(Path(__file__).resolve().parents[2]),
    )


@pytest.mark.slow
def test_approval_resumes_across_processes(scenario_dir):
    proposed = neonblue(scenario_dir, "recommend", "winner-pricing", "--json")
    assert proposed.returncode == 0, proposed.stderr
    state = json.loads(proposed.stdout)
    assert state["waiting_for_approval"] and state["proposal"]["action"] == "ship"
    pending = neonblue(scenario_dir, "approvals", "list")
    assert state["recommendation_id"] in pending.stdout

    approved = neonblue(
        scenario_dir,
        "approvals",
        "approve",
        state["recommendation_id"],
        "--by",
        "alice",
        "--note",
        "clear win",
    )
    assert approved.returncode == 0, approved.stderr
    assert "conclude_experiment(ship treatment)" in approved.stdout
    shown = json.loads(
        neonblue(scenario_dir, "experiments", "show", "winner-pricing", "--json").stdout
    )
    assert shown["status"] == "concluded"
    assert shown["decision"] == "ship" and shown["winner"] == "treatment"

    again = neonblue(scenario_dir, "approvals", "approve", state["recommendation_id"])
    assert again.returncode == 1 and "it is applied" in again.stderr


@pytest.mark.slow
def test_rejection_changes_nothing(scenario_dir):
    state = json.loads(neonblue(scenario_dir, "recommend", "harmful-video", "--json").stdout)
    assert state["proposal"]["action"] == "stop"
    rejected = neonblue(scenario_dir, "approvals", "reject", state["recommendation_id"])
    assert rejected.returncode == 0, rejected.stderr
    shown = json.loads(
        neonblue(scenario_dir, "experiments", "show", "harmful-video", "--json").stdout
    )
    assert shown["status"] == "running"


def test_recorded_recommendations_replay_from_the_log(scenario_dir):
    with bootstrap(settings_for(scenario_dir)) as services:
        anyio.run(recommend_for, services, "srm-checkout", services.read_servers())
        names = [e.name for e in services.app.log() if e.name.startswith("Recommendation")]
        (recommendation,) = recommendations(services.app)
        events = list(services.app.events.get(recommendation.id))
    assert names == ["Recommendation.Proposed"]
    rebuilt = None
    for event in events:
        rebuilt = event.mutate(rebuilt)
    assert rebuilt.action == "fix_srm" and rebuilt.state == "pending"
    assert rebuilt.reasons == recommendation.reasons


def test_an_approval_the_experiment_no_longer_allows_is_refused(scenario_dir):
    """Pausing an experiment someone paused meanwhile: the approval was recorded, then
    failed on apply, leaving the run waiting; it is now refused and nothing is recorded."""
    from agents.intelligence.runner import resume_with_decision
    from domain.intelligence.recommendation import RecommendationError

    with bootstrap(settings_for(scenario_dir)) as services:
        state = anyio.run(recommend_for, services, "srm-checkout", services.read_servers())
        assert state["proposal"]["action"] == "fix_srm" and state["waiting_for_approval"]
        services.app.pause_experiment("srm-checkout", "by hand")
        head = services.app.head()
        with pytest.raises(RecommendationError, match="no longer applies: srm-checkout is paused"):
            anyio.run(resume_with_decision, services, state["recommendation_id"], True, "bob")
        assert services.app.head() == head  # no Approved, no Failed
        (pending,) = recommendations(services.app)
        assert pending.state == "pending"
        rejected = anyio.run(
            resume_with_decision, services, state["recommendation_id"], False, "bob"
        )
        assert rejected["applied"] == [] and recommendations(services.app)[0].state == "rejected"


def test_unknown_experiment_is_a_clear_error(scenario_dir):
    result = neonblue(scenario_dir, "recommend", "no-such-experiment")
    assert result.returncode == 1 and "No experiment with key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failed_analysis_fails_the_run_with_its_own_error(scenario_dir):
    """The trends run alongside the analysis; its failure still surfaces as itself."""
    from agents.common.toolbox import ToolFailed

    with (
        bootstrap(settings_for(scenario_dir)) as services,
        pytest.raises(ToolFailed, match="No experiment with key"),
    ):
        anyio.run(recommend_for, services, "no-such-experiment", services.read_servers())


@pytest.mark.parametrize("key", ["underpowered-badge"])
def test_advice_needs_no_approval(scenario_dir, key):
    state = json.loads(neonblue(scenario_dir, "recommend", key, "--json").stdout)
    assert state["proposal"]["action"] == "extend" and not state["waiting_for_approval"]
    assert "Under-powered" in state["narrative"]


def test_newer_proposal_supersedes_the_pending_one(scenario_dir):
    from domain.intelligence.policy import Action, Proposal
    from infrastructure.recommendations import record_proposal

    proposal = Proposal(Action.STOP, "treatment", ["harm"], {"lift": 0.2})
    with bootstrap(settings_for(scenario_dir)) as services:
        first = record_proposal(
            services.app,
            "harmful-video",
            proposal,
            tool_calls=[],
            positions={},
            mode="deterministic",
            run_id="r1",
        )
        second = record_proposal(
            services.app,
            "harmful-video",
            proposal,
            tool_calls=[],
            positions={},
            mode="deterministic",
            run_id="r2",
        )
        states = {r.id: r.state for r in recommendations(services.app)}
    assert states == {first: "superseded", second: "pending"}


@pytest.mark.parametrize("status", ["concluded", "draft"])
def test_nothing_to_decide_is_not_told_to_keep_running(status):
    from agents.intelligence.prompts import templated_narrative
    from domain.analysis import build_scorecard
    from domain.intelligence.policy import Timing, recommend
    from tests.domain.test_scorecard import experiment, sums

    card = build_scorecard(experiment(), {"control": sums(500, 50), "treatment": sums(500, 60)})
    proposal = recommend(card, Timing(days_running=30), status)
    text = templated_narrative(
        "k", {**vars(proposal), "needs_approval": proposal.needs_approval}, [], status
    )
    assert text.startswith("No action needed (k).") and f"is {status}" in text
    assert "Keep the experiment running" not in text


def test_similar_experiments_say_whether_they_concluded():
    """A running experiment is no precedent: they were all called "past experiments"."""
    from agents.intelligence.prompts import templated_narrative

    proposal = {"action": "extend", "variant": None, "reasons": ["r."], "needs_approval": False}
    similar = [
        {"key": "a", "status": "concluded", "outcome": "ship"},
        {"key": "b", "status": "running", "outcome": ""},
    ]
    text = templated_narrative("k", proposal, similar)
    assert "Similar experiments: a (concluded: ship), b (running)." in text
    assert "past" not in text


def test_the_policy_sees_the_bayesian_chance_the_tool_answered():
    """The agent rebuilds the scorecard from the MCP answer: a Bayesian verdict keeps its
    chance to beat control (it has no p-value to cite)."""
    from agents.common.scorecards import scorecard_from_answer
    from domain.analysis import build_scorecard
    from domain.intelligence.policy import Action, Timing, recommend
    from domain.statistics import AnalysisOptions
    from mcp_servers.common.models import ScorecardOut
    from tests.domain.test_scorecard import experiment, sums

    data = {"control": sums(20_000, 2000), "treatment": sums(20_000, 2400)}
    card = build_scorecard(experiment(), data, AnalysisOptions(engine="bayesian"))
    answer = ScorecardOut.of(card).model_dump(mode="json")
    rebuilt = scorecard_from_answer("exp", answer)
    assert rebuilt.rows[0].chance_to_beat_control == card.rows[0].chance_to_beat_control
    proposal = recommend(rebuilt, Timing(14))
    assert (
        proposal.action == Action.SHIP and "chance to beat control > 99.9%" in proposal.reasons[0]
    )
