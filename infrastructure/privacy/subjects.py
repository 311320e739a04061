"""Data subjects in the event store: lookup, reveal, export, erasure, last activity.

A subject is known by its pseudonym. Its participations are found without a scan
(their ids derive from (experiment key, pseudonym)); its personal fields open with its
key while the key exists, and read ``<erased>`` once it is gone. `erase` is the commit
point of forgetting: the erasure event and the key deletion share one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from domain.ingestion.aggregates import UnclassifiedEvents
from domain.participation.aggregate import Participation, participation_id
from domain.privacy.erasure import ERASED, SubjectErasure, erasure_id
from infrastructure.application import NeonBlue
from infrastructure.privacy.crypto import SEALED, SubjectKey, Unreadable, is_sealed, pseudonym
from infrastructure.privacy.keys import KeyStore, key_store_for
from infrastructure.privacy.secret import platform_secret
from infrastructure.settings.privacy import PrivacySettings

PARTICIPATION_EVENTS = tuple(
    get_topic(cls)
    for cls in (
        Participation.Enrolled,
        Participation.Exposed,
        Participation.MetricRecorded,
        Participation.VariantMismatch,
    )
)


@dataclass
class Erasure:
    """What `Subjects.erase` found and did."""

    pseudonym: str
    committed: bool  # False: it was already erased (a rerun)
    legacy_experiments: list[str] = field(default_factory=list)


class Subjects:
    def __init__(self, app: NeonBlue, secret: bytes, keys: KeyStore) -> None:
        self.app = app
        self.secret = secret
        self.keys = keys

    def pseudonym(self, user_id: str) -> str:
        return pseudonym(self.secret, user_id)

    def participations(self, subject: str) -> list[Participation]:
        found = []
        for key in self.app.experiment_keys():
            try:
                found.append(self.app.repository.get(participation_id(key, subject)))
            except AggregateNotFoundError:
                continue
        return found

    def legacy_experiments(self, user_id: str) -> list[str]:
        """Experiments holding the raw id itself (stored before protection existed)."""
        return [p.experiment_key for p in self.participations(user_id)]

    def is_erased(self, subject: str) -> bool:
        try:
            self.app.repository.get(erasure_id(subject))
        except AggregateNotFoundError:
            return False
        return True

    def key(self, subject: str) -> SubjectKey | None:
        return self.keys.get([subject]).get(subject)

    def reveal(self, subject: str, sealed: Any, key: SubjectKey | None = None) -> Any:
        """The sealed value opened, or ``<erased>`` when the subject's key is gone."""
        key = key or self.key(subject)
        if key is None or not is_sealed(sealed):
            return ERASED
        try:
            return key.open(sealed)
        except Unreadable:
            return ERASED

    def events(self, subject: str) -> Iterator[tuple[Participation, Any]]:
        for participation in self.participations(subject):
            for stored in self.app.recorder.select_events(participation.id):
                yield participation, self.app.mapper.to_domain_event(stored)

    def user_id(self, subject: str) -> str | None:
        """The raw id, read from the subject's sealed fields (None once its key is gone)."""
        key = self.key(subject)
        if key is None:
            return None
        for _, event in self.events(subject):
            context = getattr(event, "context", None)
            if isinstance(context, dict) and SEALED in context:
                opened = self.reveal(subject, context[SEALED], key)
                if isinstance(opened, dict):
                    return str(opened.get("user_id"))
        return None

    def export(self, user_id: str) -> dict[str, Any]:
        """Everything the event store holds about the user, opened (an access request)."""
        subject = self.pseudonym(user_id)
        key = self.key(subject)
        participations: dict[str, dict[str, Any]] = {}
        for participation, event in self.events(subject):
            entry = participations.setdefault(
                participation.experiment_key,
                {
                    "experiment": participation.experiment_key,
                    "participation_id": str(participation.id),
                    "variant": participation.variant,
                    "assignment_source": str(participation.source),
                    "enrolled_at": participation.enrolled_at.isoformat(),
                    "events": [],
                },
            )
            row: dict[str, Any] = {"type": type(event).__name__}
            for name in ("event_id", "metric", "value", "excluded", "assigned", "seen"):
                if hasattr(event, name):
                    row[name] = getattr(event, name)
            if hasattr(event, "at"):
                row["at"] = event.at.isoformat()
            context = dict(getattr(event, "context", {}) or {})
            if SEALED in context:
                context[SEALED] = self.reveal(subject, context[SEALED], key)
            row["context"] = context
            entry["events"].append(row)
        triaged = self._triaged(subject, key)
        legacy = self.legacy_experiments(user_id)
        if self.is_erased(subject) and key is None:
            status = "erased"
        elif key is None and not (participations or triaged or legacy):
            status = "none"  # the caller adds dead letters, and may find some
        else:
            status = "held"
        return {
            "user_id": user_id,
            "pseudonym": subject,
            "status": status,
            "key_present": key is not None,
            "participations": list(participations.values()),
            "kept_for_triage": triaged,
            "legacy_experiments": legacy,
        }

    def _triaged(self, subject: str, key: SubjectKey | None) -> list[dict[str, Any]]:
        kept = []
        for entry in self.app.log(topics=[get_topic(UnclassifiedEvents.Received)]):
            payload = dict(entry.event.payload)  # type: ignore[attr-defined]
            if payload.get("user_id") != subject:
                continue
            if SEALED in payload:
                payload[SEALED] = self.reveal(subject, payload[SEALED], key)
            kept.append(payload)
        return kept

    def erase(self, subject: str, reason: str, at: datetime) -> Erasure:
        """Records the erasure and deletes the key, atomically; a rerun changes nothing."""
        erased, key = self.is_erased(subject), self.key(subject)
        if erased and key is None:  # a rerun: nothing to delete, the WAL scrubbed again
            self.keys.erase(subject, [])
            return Erasure(subject, committed=False)
        stored = []
        if not erased:
            erasure = SubjectErasure.record(subject, at, reason)
            stored = [self.app.mapper.to_stored_event(e) for e in erasure.collect_events()]
        try:
            self.keys.erase(subject, stored)
        except IntegrityError:  # another `forget` of this subject committed first
            if not self.is_erased(subject):
                raise
            return self.erase(subject, reason, at)  # deletes a key it may have left: none
        return Erasure(subject, committed=True)

    def last_activity(self) -> dict[str, datetime]:
        """Each subject's latest event time, from the log (a full scan: run it scheduled)."""
        return Activity(self.app).refresh()


class Activity:
    """Each subject's latest event time, read from the log; `refresh` reads only what was
    appended since the last read (a retention run checks each subject again before it
    forgets it: they may have come back meanwhile)."""

    def __init__(self, app: NeonBlue) -> None:
        self.app = app
        self.position = 0
        self.latest: dict[str, datetime] = {}
        self._owners: dict[Any, str] = {}

    def refresh(self) -> dict[str, datetime]:
        owners, latest = self._owners, self.latest
        for entry in self.app.log(start=self.position + 1, topics=PARTICIPATION_EVENTS):
            self.position = entry.position
            event: Any = entry.event
            if isinstance(event, Participation.Enrolled):
                owners[entry.originator_id] = event.user_id
            subject = owners.get(entry.originator_id)
            if subject is not None and (subject not in latest or event.at > latest[subject]):
                latest[subject] = event.at
        return latest


def build_subjects(app: NeonBlue, settings: PrivacySettings | None = None) -> Subjects:
    return Subjects(app, platform_secret(app, settings), key_store_for(app))
