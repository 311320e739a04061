"""The privacy seam of ingest: translated items in, items holding no personal data out.

`Protector.protect` runs on a batch after translation and before any aggregate is
touched. It replaces each user id by the subject's pseudonym (so participation ids,
joins and bucketing derive from the keyed hash) and seals the personal fields (the raw
user id, routing metadata, semantic context; for events kept for triage the properties
too) with the subject's key into one AES-GCM value. Keys are looked up (or created, drawn
in one system call) once per batch for the subjects not yet in memory, so the cost is one
HMAC (its key schedule done once) and one AES-GCM per event.
Segment dimensions (``properties.segment``: device, country, ...) stay in clear: they
are the breakdowns of the analysis (README, Privacy).

An erased subject's events that arrive later are not stored: the key store gives it no key
and the item becomes `FORGOTTEN`. Keys in memory are dropped whenever the store's erasure
counter moved (`privacy forget` in another process); `seen` is the count the last batch was
sealed under, which the writer checks again in its transaction (`SubjectsErased`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.application import NeonBlue
from infrastructure.ingest.translate import Item, Unclassified
from infrastructure.privacy.crypto import (
    EVENT_ID_PREFIX,
    NONCE_BYTES,
    SEALED,
    Pseudonymizer,
    SubjectKey,
)
from infrastructure.privacy.keys import KeyStore, key_store_for
from infrastructure.privacy.secret import platform_secret
from infrastructure.settings.privacy import PrivacySettings

PERSONAL_CONTEXT = ("routing", "semantic")
PERSONAL_PAYLOAD = (
    "user_id", "event_id", "properties", "semantic_context", "routing_metadata",
)  # fmt: skip
CACHE_SIZE = 200_000
T = TypeVar("T")


@dataclass(frozen=True)
class Forgotten:
    """What an event of an erased subject becomes: nothing is stored, nothing dead-lettered
    (a dead letter would keep the raw message)."""


FORGOTTEN = Forgotten()


class Protector:
    def __init__(self, secret: bytes, keys: KeyStore) -> None:
        self.secret = secret
        self.keys = keys
        self._hash = Pseudonymizer(secret)
        self._pseudonyms: dict[str, str] = {}
        self._keys: dict[str, SubjectKey] = {}
        self.seen = -1
        """The erasure count the last batch was sealed under."""

    def pseudonym(self, user_id: str) -> str:
        found = self._pseudonyms.get(user_id)
        if found is None:
            if len(self._pseudonyms) >= CACHE_SIZE:
                self._pseudonyms.clear()
            found = self._pseudonyms[user_id] = self._hash(user_id)
        return found

    def event_id(self, event_id: str) -> str:
        """Producers' event ids may embed the user id: the stored one is a keyed hash (the
        same for a retry, so deduplication still works); the raw one is sealed."""
        return self._hash(event_id, EVENT_ID_PREFIX)

    def protect(self, items: Sequence[tuple[T, Item]]) -> list[tuple[T, Item | Forgotten]]:
        """The batch with pseudonyms and sealed personal fields (same order); the events of
        erased subjects `FORGOTTEN`."""
        users = [_user_of(item) for _, item in items]
        subjects = {user: self.pseudonym(user) for user in set(users) if user is not None}
        keys = self._keys
        erasures = self.keys.erasures()
        if erasures != self.seen:  # someone was forgotten: a key in memory may be gone
            keys.clear()
            self.seen = erasures
        missing = [s for s in subjects.values() if s not in keys]
        if missing:
            if len(keys) + len(missing) > CACHE_SIZE:
                keys.clear()
                missing = list(subjects.values())
            keys.update(self.keys.ensure(missing))
        out: list[tuple[T, Item | Forgotten]] = []
        nonces = os.urandom(NONCE_BYTES * len(items))  # one system call per batch
        hashed = self._hash
        for index, ((source, item), user) in enumerate(zip(items, users, strict=True)):
            if user is None:
                out.append((source, item))
                continue
            subject = subjects[user]
            if subject not in keys:  # erased: `ensure` gave it no key
                out.append((source, FORGOTTEN))
                continue
            nonce = nonces[index * NONCE_BYTES : (index + 1) * NONCE_BYTES]
            event_id = hashed(item.event_id, EVENT_ID_PREFIX)  # as `event_id`, inlined
            out.append((source, self._sealed(item, user, subject, keys[subject], event_id, nonce)))
        return out

    @staticmethod
    def _sealed(
        item: Item, user: str, subject: str, key: SubjectKey, event_id: str, nonce: bytes
    ) -> Item:
        context = _context(item.context, user, item.event_id, key, nonce)
        if isinstance(item, Unclassified):
            payload = {k: v for k, v in item.payload.items() if k not in PERSONAL_PAYLOAD}
            personal = {k: item.payload[k] for k in PERSONAL_PAYLOAD if k in item.payload}
            payload.update(user_id=subject, event_id=event_id)
            payload[SEALED] = key.seal(personal)  # its own random nonce
            return replace(item, event_id=event_id, payload=payload, context=context)
        if isinstance(item, RecordExposure):  # built directly: `replace` costs more than AES
            return RecordExposure(
                item.experiment_key, subject, event_id, item.at, item.variant, context
            )
        assert isinstance(item, RecordMetric)
        return RecordMetric(
            item.experiment_key, subject, event_id, item.at, item.metric, item.value, context
        )


def _user_of(item: Item) -> str | None:
    if isinstance(item, RecordExposure | RecordMetric):
        return item.user_id
    if isinstance(item, Unclassified):
        user = item.payload.get("user_id")
        return user if isinstance(user, str) and user else None
    return None


def _context(
    context: dict[str, Any], user: str, event_id: str, key: SubjectKey, nonce: bytes
) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    personal: dict[str, Any] = {"user_id": user, "event_id": event_id}
    for name, value in context.items():
        if name in PERSONAL_CONTEXT:
            personal[name] = value
        else:
            kept[name] = value
    kept[SEALED] = key.seal(personal, nonce)
    return kept


def build_protector(app: NeonBlue, settings: PrivacySettings | None = None) -> Protector | None:
    """The app's protector, or None when ``NEONBLUE_PRIVACY=off``."""
    settings = settings or PrivacySettings()
    if not settings.privacy:
        return None
    return Protector(platform_secret(app, settings), key_store_for(app))
