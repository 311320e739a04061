"""Opting experiments in to real-time traffic optimisation (a person's recorded decision)."""

from __future__ import annotations

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from domain.intelligence.allocation import AllocationPolicy, allocation_policy_id
from infrastructure.application import NeonBlue


def set_policy(
    app: NeonBlue,
    experiment_key: str,
    *,
    auto_apply: bool,
    min_share: float,
    max_step: float,
    by: str,
) -> AllocationPolicy:
    app.experiment(experiment_key)  # clear error for an unknown key
    try:
        policy: AllocationPolicy = app.repository.get(allocation_policy_id(experiment_key))
        policy.change(auto_apply, min_share, max_step, by)
    except AggregateNotFoundError:
        policy = AllocationPolicy.opt_in(experiment_key, auto_apply, min_share, max_step, by)
    app.save(policy)
    return policy


def revoke_policy(app: NeonBlue, experiment_key: str, by: str) -> bool:
    """Revokes the experiment's policy; False when it never had one."""
    try:
        policy: AllocationPolicy = app.repository.get(allocation_policy_id(experiment_key))
    except AggregateNotFoundError:
        return False
    policy.revoke(by)
    app.save(policy)
    return True


def active_policies(app: NeonBlue) -> list[AllocationPolicy]:
    found = []
    for entry in app.log(topics=[get_topic(AllocationPolicy.Set)]):
        policy: AllocationPolicy = app.repository.get(entry.originator_id)
        if policy.active:
            found.append(policy)
    return found
