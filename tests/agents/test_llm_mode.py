"""LLM mode with the real ChatOpenAI client against a local OpenAI-compatible stub."""

from __future__ import annotations

import json

import anyio
import pytest

from agents.analytics.runner import ask
from agents.common.llm import LlmSettings
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings
from tests.support.openai_stub import running_stub


@pytest.fixture
def stub():
    with running_stub() as (url, model):
        yield url, model


def test_the_model_plans_tool_calls_and_numbers_come_from_tools(scenario_dir, stub):
    url, model = stub
    settings = EventStoreSettings(data_dir=scenario_dir, event_store="")
    with bootstrap(settings) as services:
        state = anyio.run(
            ask,
            services,
            "How is winner-pricing doing?",
            services.read_servers(),
            LlmSettings(base_url=url, api_key="test"),
        )
    (tool_result,) = state["result"]["tool_results"]
    assert tool_result["tool"] == "postgresql__analyze_experiment_data"
    assert tool_result["arguments"] == {"experiment_id": "winner-pricing"}
    lift = tool_result["result"]["scorecard"]["results"][0]["relative_lift"]
    assert f"{lift:+.4f}" in state["answer"]  # the prose quotes the tool's number
    assert [s["tool"] for s in state["sources"]] == ["analyze_experiment_data"]

    first, second = model.requests
    offered = {t["function"]["name"] for t in first["tools"]}
    assert "postgresql__predict_user_assignment" in offered
    assert second["messages"][-1]["role"] == "tool"  # the result went back to the model
    assert json.loads(second["messages"][-1]["content"])["experiment"]["key"] == "winner-pricing"


def test_tool_errors_reach_the_model(scenario_dir, stub):
    url, _ = stub
    settings = EventStoreSettings(data_dir=scenario_dir, event_store="")
    with bootstrap(settings) as services:
        state = anyio.run(
            ask,
            services,
            "How is no-such-thing doing?",
            services.read_servers(),
            LlmSettings(base_url=url),
        )
    assert "No experiment with key 'no-such-thing'" in state["answer"]


def test_intelligence_narrative_from_the_model(scenario_dir, stub, monkeypatch):
    from agents.intelligence.runner import recommend_for

    url, model = stub
    monkeypatch.setenv("NEONBLUE_LLM_BASE_URL", url)
    settings = EventStoreSettings(data_dir=scenario_dir, event_store="")
    with bootstrap(settings) as services:
        state = anyio.run(recommend_for, services, "harmful-video", services.read_servers())
    assert state["proposal"]["action"] == "stop"  # the decision is the policy's, not the model's
    assert state["narrative"].startswith("NARRATIVE (stub model)")
    sent = json.loads(model.requests[-1]["messages"][-1]["content"])
    assert (
        sent["action"] == "stop" and sent["numbers"]["lift"] == state["proposal"]["numbers"]["lift"]
    )
