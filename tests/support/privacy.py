"""Reading protected events back in tests: the raw ids behind pseudonyms and hashed event ids."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.participation.aggregate import Participation
from infrastructure.application import NeonBlue
from infrastructure.privacy.crypto import EVENT_ID_PREFIX, SEALED, pseudonym
from infrastructure.privacy.keys import key_store_for
from infrastructure.privacy.secret import platform_secret


def stored_event_id(app: NeonBlue, event_id: str) -> str:
    """The id ingest stores for a wire event id (a keyed hash)."""
    return pseudonym(platform_secret(app), event_id, EVENT_ID_PREFIX)


class Opener:
    """Opens the sealed fields of stored events (subjects and keys looked up once each)."""

    def __init__(self, app: NeonBlue) -> None:
        self.app = app
        self.keys = key_store_for(app)
        self._subjects: dict[Any, str] = {}
        self._keys: dict[str, Any] = {}

    def learn(self, entries: Iterable[Any]) -> None:
        """Subjects from participations' ``Enrolled`` events and payloads among ``entries``
        (logged events), and all their keys in one read: opening thousands of events then
        needs no aggregate and no key lookup each."""
        subjects = set()
        for entry in entries:
            event = entry.event
            if isinstance(event, Participation.Enrolled):
                self._subjects[entry.originator_id] = event.user_id
                subjects.add(event.user_id)
            payload = getattr(event, "payload", None)
            if isinstance(payload, dict) and isinstance(payload.get("user_id"), str):
                subjects.add(payload["user_id"])
        missing = [s for s in subjects if s not in self._keys]
        self._keys.update(self.keys.get(missing))  # forgotten subjects fail in __call__

    def __call__(self, originator_id: Any, event: Any) -> dict[str, Any]:
        """The sealed fields of a participation or triage event ({} when none)."""
        context = getattr(event, "context", None) or {}
        sealed = context.get(SEALED)
        if sealed is None:
            return {}
        payload = getattr(event, "payload", None)
        if payload is not None:
            subject = payload["user_id"]
        else:
            subject = self._subjects.get(originator_id)
            if subject is None:
                participation: Participation = self.app.repository.get(originator_id)
                subject = self._subjects[originator_id] = participation.user_id
        if subject not in self._keys:
            self._keys[subject] = self.keys.get([subject])[subject]
        return dict(self._keys[subject].open(sealed))


def opened(app: NeonBlue, originator_id: Any, event: Any) -> dict[str, Any]:
    return Opener(app)(originator_id, event)


def raw_event_id(app: NeonBlue, originator_id: Any, event: Any) -> str:
    return str(opened(app, originator_id, event).get("event_id", event.event_id))


def raw_user_id(app: NeonBlue, participation: Participation) -> str:
    """The user id behind a participation's pseudonym (read from one of its events)."""
    for stored in app.recorder.select_events(participation.id):
        event = app.mapper.to_domain_event(stored)
        found = opened(app, participation.id, event).get("user_id")
        if found:
            return str(found)
    return participation.user_id
