"""Thompson reallocation invariants (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.analysis import VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole, Variant
from domain.intelligence.allocation import AllocationPolicy, propose_reallocation
from domain.statistics import ProportionStatistic

PRIMARY = Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL)


@settings(max_examples=40, deadline=None)
@given(
    rates=st.lists(st.floats(0.05, 0.3), min_size=2, max_size=4),
    max_step=st.floats(0.02, 0.5),
    min_share=st.floats(0.0, 0.2),
    seed=st.integers(0, 10),
)
def test_reallocation_keeps_weights_valid(rates, max_step, min_share, seed):
    keys = [f"v{i}" for i in range(len(rates))]
    weights = {k: 1 / len(keys) for k in keys}
    experiment = Experiment.design(
        "e", "E", variants=[Variant(k, k, w) for k, w in weights.items()], metrics=[PRIMARY]
    )
    n = 4000
    arms = {k: ProportionStatistic(n, round(r * n)) for k, r in zip(keys, rates, strict=True)}
    card = build_scorecard(
        experiment, {k: VariantSums(n, {"conversion": a.sum}) for k, a in arms.items()}
    )
    policy = AllocationPolicy.opt_in("e", True, min_share, max_step, "alice")
    proposal = propose_reallocation(card, arms, weights, policy, seed)
    if proposal is None:
        return
    new = {k: proposal.numbers[f"weight:{k}"] for k in keys}
    assert sum(new.values()) == pytest.approx(1.0, abs=1e-3)
    assert max(abs(new[k] - weights[k]) for k in keys) <= max_step + 1e-3
    assert min(new.values()) >= min(min_share, min(weights.values())) - 1e-3
