"""Real-time traffic optimisation: Thompson-sampling reallocation under guardrails.

An `AllocationPolicy` is a person's opt-in for one experiment: the minimum share every
arm keeps, the largest weight change per step, and whether changes apply automatically.
`propose_reallocation` is pure: same statistics and seed, same proposal.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import numpy as np
from eventsourcing.domain import Aggregate

from domain.analysis import Scorecard
from domain.errors import DomainError
from domain.intelligence.policy import Action, Proposal
from domain.statistics import (
    ProportionStatistic,
    SampleMeanStatistic,
    thompson_allocation_from_statistics,
)

MeanLike = ProportionStatistic | SampleMeanStatistic
MATERIAL_CHANGE = 0.01


class AllocationPolicyError(DomainError):
    """The optimisation policy is invalid."""


def allocation_policy_id(experiment_key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"https://neonblue.dev/allocation-policies/{experiment_key}")


class AllocationPolicy(Aggregate):
    class Event(Aggregate.Event):
        class_version = 1

    class Set(Event, Aggregate.Created):
        experiment_key: str
        auto_apply: bool
        min_share: float
        max_step: float
        by: str

    class Changed(Event):
        auto_apply: bool
        min_share: float
        max_step: float
        by: str

        def apply(self, aggregate: AllocationPolicy) -> None:
            aggregate.auto_apply, aggregate.min_share = self.auto_apply, self.min_share
            aggregate.max_step, aggregate.by = self.max_step, self.by

    class Revoked(Event):
        by: str

        def apply(self, aggregate: AllocationPolicy) -> None:
            aggregate.active = False
            aggregate.by = self.by

    @staticmethod
    def create_id(experiment_key: str) -> UUID:
        return allocation_policy_id(experiment_key)

    def __init__(
        self, experiment_key: str, auto_apply: bool, min_share: float, max_step: float, by: str
    ) -> None:
        self.experiment_key = experiment_key
        self.auto_apply = auto_apply
        self.min_share = min_share
        self.max_step = max_step
        self.by = by
        self.active = True

    @classmethod
    def opt_in(
        cls, experiment_key: str, auto_apply: bool, min_share: float, max_step: float, by: str
    ) -> AllocationPolicy:
        _check(min_share, max_step, by)
        return cls._create(
            cls.Set,
            experiment_key=experiment_key,
            auto_apply=auto_apply,
            min_share=min_share,
            max_step=max_step,
            by=by,
        )

    def change(self, auto_apply: bool, min_share: float, max_step: float, by: str) -> None:
        _check(min_share, max_step, by)
        self.trigger_event(
            self.Changed, auto_apply=auto_apply, min_share=min_share, max_step=max_step, by=by
        )
        self.active = True

    def revoke(self, by: str) -> None:
        self.trigger_event(self.Revoked, by=by)


def _check(min_share: float, max_step: float, by: str) -> None:
    if not 0 <= min_share < 0.5:
        raise AllocationPolicyError(f"min_share must be in [0, 0.5), not {min_share}.")
    if not 0 < max_step <= 1:
        raise AllocationPolicyError(f"max_step must be in (0, 1], not {max_step}.")
    if not by.strip():
        raise AllocationPolicyError("A policy needs the name of the person who set it.")


def propose_reallocation(
    card: Scorecard,
    arms: dict[str, MeanLike],
    current: dict[str, float],
    policy: AllocationPolicy,
    seed: int = 0,
    inverse: bool = False,
) -> Proposal | None:
    """Thompson weights for the primary metric, limited per step; None when nothing should move.

    No reallocation while the data is untrustworthy (SRM) or a guardrail fails: those need
    a person (the experiment-intelligence graph recommends fixing or stopping instead).
    """
    if card.srm.mismatch or card.failing_guardrails():
        return None
    keys = list(current)
    result = thompson_allocation_from_statistics(
        [arms[k] for k in keys], policy.min_share, np.random.default_rng(seed), inverse=inverse
    )
    if result.error:
        return None
    target = np.asarray(result.weights)
    now = np.asarray([current[k] for k in keys])
    # move along the straight line to the target: weights keep summing to 1, no arm moves
    # more than max_step, and every arm stays above min_share (both ends satisfy it)
    largest = float(np.max(np.abs(target - now)))
    fraction = min(1.0, policy.max_step / largest) if largest > 0 else 0.0
    proposed = now + fraction * (target - now)
    if np.max(np.abs(proposed - now)) < MATERIAL_CHANGE:
        return None
    numbers: dict[str, Any] = {
        f"weight:{k}": round(float(w), 4) for k, w in zip(keys, proposed, strict=True)
    }
    numbers |= {
        f"probability_best:{k}": float(p)
        for k, p in zip(keys, result.probability_best, strict=True)
    }
    best = keys[int(np.argmax(result.probability_best))]
    shares = ", ".join(f"{k} {current[k]:.0%} -> {numbers[f'weight:{k}']:.0%}" for k in keys)
    return Proposal(
        Action.REALLOCATE,
        best,
        [
            f"Thompson sampling on the primary metric favours {best} "
            f"(probability best {max(result.probability_best):.0%}); move traffic: {shares} "
            f"(min share {policy.min_share:.0%}, at most {policy.max_step:.0%} per step)."
        ],
        numbers,
    )
