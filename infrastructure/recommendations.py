"""Recording agent recommendations and carrying out approved ones as domain commands."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from domain.errors import DomainError
from domain.experiments.aggregate import Experiment
from domain.intelligence.policy import Action, Proposal
from domain.intelligence.recommendation import Recommendation, RecommendationError
from infrastructure.application import NeonBlue, utcnow

CONCLUDES = (Action.STOP, Action.SHIP, Action.ROLL_BACK, Action.CONCLUDE)
"""Actions that end with the experiment concluded (stopped first if it still runs)."""


def record_proposal(
    app: NeonBlue,
    experiment_key: str,
    proposal: Proposal,
    *,
    tool_calls: list[dict[str, Any]],
    positions: dict[str, int],
    mode: str,
    run_id: str,
) -> UUID:
    """Stores the proposal with its inputs (tool calls, read-model positions)."""
    recommendation = Recommendation.propose(
        experiment_key=experiment_key,
        action=str(proposal.action),
        variant=proposal.variant,
        reasons=proposal.reasons,
        numbers={k: float(v) for k, v in proposal.numbers.items()},
        needs_approval=proposal.needs_approval,
        tool_calls=tool_calls,
        positions=positions,
        mode=mode,
        run_id=run_id,
    )
    head = app.head()
    older = recommendations(app, "pending", experiment_key)
    for previous in older:
        previous.supersede(recommendation.id)
    app.save(recommendation, *older)
    keep_newest_pending(app, experiment_key, after=head)
    return recommendation.id


def keep_newest_pending(
    app: NeonBlue, experiment_key: str, attempts: int = 3, after: int = 0
) -> None:
    """One pending recommendation per experiment, the newest: two proposals recorded at
    once (an agent run and `optimize run`) each found none pending to supersede. Whoever
    looks after both are saved supersedes the older; two doing so at once meet on the
    aggregate's version, and the loser reads again. Only proposals after position
    ``after`` are read: the caller superseded the pending ones before it."""
    for _ in range(attempts):
        pending = recommendations(app, "pending", experiment_key, start=after + 1)
        if len(pending) <= 1:
            return
        newest = pending[-1]
        for previous in pending[:-1]:
            previous.supersede(newest.id)
        try:
            app.save(*pending[:-1])
        except IntegrityError:
            continue
        return


def get_recommendation(app: NeonBlue, recommendation_id: UUID | str) -> Recommendation:
    try:
        return app.repository.get(UUID(str(recommendation_id)))
    except (AggregateNotFoundError, ValueError):
        raise RecommendationError(
            f"No recommendation {recommendation_id}; `neonblue approvals list` shows pending ones."
        ) from None


def recommendations(
    app: NeonBlue, state: str | None = None, experiment_key: str | None = None, start: int = 1
) -> list[Recommendation]:
    """All recommendations (optionally only those in ``state``, of one experiment, proposed
    from log position ``start``), oldest first."""
    found = []
    for entry in app.log(start=start, topics=[get_topic(Recommendation.Proposed)]):
        if experiment_key is not None and entry.event.experiment_key != experiment_key:  # type: ignore[attr-defined]
            continue  # not loaded
        recommendation = app.repository.get(entry.originator_id)
        if state is None or recommendation.state == state:
            found.append(recommendation)
    return found


def ensure_applicable(app: NeonBlue, recommendation: Recommendation) -> None:
    """Refuses to approve what the experiment's state no longer allows (e.g. pausing an
    experiment someone paused meanwhile): approving it was recorded, then failed on apply.
    The recommendation's commands are tried on the experiment as loaded, never saved: the
    domain's own rules decide."""
    if recommendation.state != "pending":
        return  # the recommendation's own rule answers (decided already)
    experiment = app.experiment(recommendation.experiment_key)
    status, key, rid = experiment.status, experiment.key, recommendation.id
    try:
        _act(experiment, recommendation)
    except DomainError as error:
        raise RecommendationError(
            f"Recommendation {rid} ({recommendation.action} {key}) no longer applies: {key} is "
            f"{status} now ({str(error).rstrip('.')}). Reject it (`neonblue approvals reject "
            f"{rid}`), or ask for a new one (`neonblue recommend {key}`)."
        ) from None


def decide(
    app: NeonBlue, recommendation_id: UUID | str, approve: bool, by: str, note: str = ""
) -> Recommendation:
    recommendation = get_recommendation(app, recommendation_id)
    if approve:
        ensure_applicable(app, recommendation)
        recommendation.approve(by, note)
    else:
        recommendation.reject(by, note)
    _save_decision(app, recommendation, "nothing was recorded by this one")
    return recommendation


def _act(experiment: Experiment, recommendation: Recommendation) -> list[str]:
    """Applies the recommendation's commands to ``experiment`` (the caller saves it, or not:
    a dry run); the commands' names, for the record."""
    action, now = Action(recommendation.action), utcnow()
    first = recommendation.reasons[0]
    reason = f"recommendation {recommendation.id}: {first[:200]}{'…' if len(first) > 200 else ''}"
    by = f"recommendation {recommendation.id}, approved by {recommendation.decided_by or '?'}"
    commands: list[str] = []
    if action == Action.FIX_SRM:
        experiment.pause(now, reason, by)
        commands.append("pause_experiment")
    elif action in CONCLUDES:
        if experiment.is_collecting:
            experiment.stop(now, reason, by)
            commands.append("stop_experiment")
        if action == Action.SHIP:
            experiment.conclude("ship", recommendation.variant, reason, by)
            commands.append(f"conclude_experiment(ship {recommendation.variant})")
        elif action == Action.CONCLUDE:
            experiment.conclude("inconclusive", None, reason, by)
            commands.append("conclude_experiment(inconclusive)")
        else:
            experiment.conclude("rollback", None, reason, by)
            commands.append("conclude_experiment(rollback)")
    elif action == Action.REALLOCATE:
        weights = {
            name.removeprefix("weight:"): value
            for name, value in recommendation.numbers.items()
            if name.startswith("weight:")
        }
        experiment.change_traffic(weights=weights, reason=reason, by=by)
        commands.append("change_traffic")
    return commands


def _save_decision(app: NeonBlue, recommendation: Recommendation, outcome: str) -> None:
    """Saves; when another process decided or applied it meanwhile (the aggregate's version
    moved), says so instead of a storage error."""
    try:
        app.save(recommendation)
    except IntegrityError:
        current = get_recommendation(app, recommendation.id)
        raise RecommendationError(
            f"Recommendation {recommendation.id} was {current.state} by another process "
            f"meanwhile; {outcome}."
        ) from None


def apply(app: NeonBlue, recommendation_id: UUID | str) -> list[str]:
    """Issues the domain commands of an approved recommendation; records what happened."""
    recommendation = get_recommendation(app, recommendation_id)
    if recommendation.state != "approved":
        raise RecommendationError(
            f"Recommendation {recommendation.id} is {recommendation.state}; approve it first."
        )
    try:
        experiment = app.experiment(recommendation.experiment_key)
        commands = _act(experiment, recommendation)
        app.save(experiment)  # stop and conclude together, or neither
    except Exception as error:
        recommendation.mark_failed(f"{type(error).__name__}: {error}")
        _save_decision(app, recommendation, f"here it failed: {error}")
        raise
    recommendation.mark_applied(commands)
    done = ", ".join(commands) or "no command"
    _save_decision(app, recommendation, f"this one issued {done} too")
    if Action(recommendation.action) in CONCLUDES:  # concluded: score its forecasts
        from infrastructure.track_record import score_concluded  # (it reads recommendations)

        score_concluded(app, recommendation.experiment_key)
    return commands
