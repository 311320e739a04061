"""Replaying the events ingest kept for triage once a person approved their rule."""

from __future__ import annotations

import json

from eventsourcing.utils import get_topic

from domain.ingestion.aggregates import UnclassifiedEvents
from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import BatchOutcome, NeonBlue
from infrastructure.ingest.bus import Record
from infrastructure.ingest.translate import translate
from infrastructure.privacy.crypto import SEALED
from infrastructure.triage import RuleError, rule


def replay_triaged(app: NeonBlue, event_type: str) -> BatchOutcome:
    """Applies an approved rule to the events of its type kept before it was approved.

    Idempotent: participations ignore event ids they already recorded.
    """
    found = rule(app, event_type)
    if found is None:
        raise RuleError(
            f"No rule for '{event_type}' was proposed: `neonblue triage rules` lists the "
            "rules, `neonblue triage propose` proposes rules for the kept event types."
        )
    if found.state != "approved":
        raise RuleError(
            f"The rule for '{event_type}' is {found.state}; approve it before replaying."
        )
    learned = {event_type: found.classification()}
    commands = []
    for entry in app.log(topics=[get_topic(UnclassifiedEvents.Received)]):
        kept = entry.event
        if kept.event_type != event_type:
            continue
        source = kept.context.get("source", {})
        payload = dict(kept.payload)
        sealed = payload.pop(SEALED, None)  # kept protected: the user id is a pseudonym
        record = Record(
            source.get("topic", "triage"),
            int(source.get("partition", 0)),
            int(source.get("offset", 0)),
            None,
            json.dumps(payload).encode(),
        )
        command = translate(record, learned)
        if isinstance(command, RecordExposure | RecordMetric):
            command.context["replayed_from_triage"] = True
            if sealed is not None:
                command.context[SEALED] = sealed
            commands.append(command)
    return app.record(commands)
