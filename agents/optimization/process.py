"""The optimisation process: watch opted-in running experiments, propose reallocations.

Reads go through the MCP servers; every proposal is recorded as a Recommendation with
its tool calls and read-model positions. A proposal is applied at once only when the
experiment's AllocationPolicy (set by a person) allows automatic changes; otherwise it
waits in `neonblue approvals list`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from agents.common.deps import AgentDeps
from agents.common.scorecards import scorecard_from_answer
from agents.common.toolbox import McpToolbox, ToolFailed
from domain.intelligence.allocation import AllocationPolicy, propose_reallocation
from domain.statistics import ProportionStatistic, SampleMeanStatistic
from infrastructure.allocation_policies import active_policies
from infrastructure.recommendations import apply, decide, record_proposal


@dataclass(frozen=True)
class StepOutcome:
    experiment_key: str
    outcome: str  # applied | pending | unchanged | skipped
    recommendation_id: str | None = None
    detail: str = ""


async def optimise_once(
    services: AgentDeps, toolbox: McpToolbox, seed: int = 0
) -> list[StepOutcome]:
    outcomes = []
    for policy in active_policies(services.app):
        toolbox.calls.clear()
        try:
            outcomes.append(await _step(services, toolbox, policy, seed))
        except ToolFailed as error:
            outcomes.append(StepOutcome(policy.experiment_key, "skipped", detail=str(error)))
    return outcomes


async def _step(
    services: AgentDeps, toolbox: McpToolbox, policy: AllocationPolicy, seed: int
) -> StepOutcome:
    key = policy.experiment_key
    analysis = await toolbox.call(
        "postgresql", "analyze_experiment_data", {"experiment_id": key, "engine": "bayesian"}
    )
    experiment = analysis["experiment"]
    if experiment["status"] != "running":
        return StepOutcome(key, "skipped", detail=f"experiment is {experiment['status']}")
    primary = next(m for m in experiment["metrics"] if m["role"] == "primary")
    if primary["kind"] == "ratio":
        return StepOutcome(key, "skipped", detail="ratio primary metrics are not optimised")
    arms = {
        v["key"]: _arm(analysis["statistics"].get(v["key"]), primary)
        for v in experiment["variants"]
    }
    current = {v["key"]: v["weight"] for v in experiment["variants"]}
    card = scorecard_from_answer(key, analysis["scorecard"])
    proposal = propose_reallocation(
        card, arms, current, policy, seed, inverse=not primary["higher_is_better"]
    )
    if proposal is None:
        return StepOutcome(key, "unchanged", detail="no material change, SRM or failing guardrail")
    recommendation_id = record_proposal(
        services.app,
        key,
        proposal,
        tool_calls=[c.as_dict() for c in toolbox.calls],
        positions=toolbox.positions(),
        mode="deterministic",
        run_id=f"optimisation-{uuid4()}",
    )
    if not policy.auto_apply:
        return StepOutcome(key, "pending", str(recommendation_id), proposal.reasons[0])
    decide(
        services.app,
        recommendation_id,
        True,
        f"policy set by {policy.by}",
        "automatic under the experiment's allocation policy",
    )
    apply(services.app, recommendation_id)
    return StepOutcome(key, "applied", str(recommendation_id), proposal.reasons[0])


def _arm(
    stats: dict[str, Any] | None, metric: dict[str, Any]
) -> ProportionStatistic | SampleMeanStatistic:
    if stats is None:
        return ProportionStatistic(0, 0.0)
    total = float(stats["sums"].get(metric["key"], 0.0))
    if metric["kind"] == "binomial":
        return ProportionStatistic(stats["users"], min(total, stats["users"]))
    return SampleMeanStatistic(
        stats["users"], total, float(stats["sums_of_squares"].get(metric["key"], 0.0))
    )


async def run_forever(
    services: AgentDeps, toolbox: McpToolbox, interval_seconds: float, on_step: Any = None
) -> None:
    """Optimises every ``interval_seconds`` until cancelled (Ctrl-C)."""
    step = 0
    while True:
        outcomes = await optimise_once(services, toolbox, seed=step)
        if on_step is not None:
            on_step(outcomes)
        step += 1
        await asyncio.sleep(interval_seconds)
