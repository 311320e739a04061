"""The record that a data subject was forgotten.

The domain never sees a raw user id: ingest hands it a pseudonym (a keyed hash). The
erasure carries only that pseudonym; read models anonymise the subject's rows when they
meet it, so rebuilding them from the log gives the same post-erasure rows.
"""

from __future__ import annotations

from datetime import datetime
from hashlib import sha1
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

ERASURE_NAMESPACE = uuid5(NAMESPACE_URL, "https://neonblue.dev/erasures")
ERASED = "<erased>"
"""What every view shows in place of a forgotten subject's personal data."""


def erasure_id(pseudonym: str) -> UUID:
    return uuid5(ERASURE_NAMESPACE, pseudonym)


def erasure_hex(pseudonym: str) -> str:
    """``erasure_id(pseudonym).hex`` (RFC 4122 name-based, SHA-1), without building a UUID:
    ingest computes one per new subject, and `uuid5` costs three times as much."""
    digest = bytearray(sha1(ERASURE_NAMESPACE.bytes + pseudonym.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


def anonymous_id(position: int) -> str:
    """The id an erased subject's statistical rows carry from the erasure at ``position``
    of the log on: unique per erasure, and the same whenever a read model is rebuilt."""
    return f"erased-{position}"


class SubjectErasure(Aggregate):
    """One per forgotten subject; its creation is the erasure."""

    class Event(Aggregate.Event):
        class_version = 1

    class Erased(Event, Aggregate.Created):
        pseudonym: str
        at: datetime
        reason: str

    @staticmethod
    def create_id(pseudonym: str) -> UUID:
        return erasure_id(pseudonym)

    def __init__(self, pseudonym: str, at: datetime, reason: str) -> None:
        self.pseudonym = pseudonym
        self.at = at
        self.reason = reason

    @classmethod
    def record(cls, pseudonym: str, at: datetime, reason: str) -> SubjectErasure:
        return cls._create(cls.Erased, pseudonym=pseudonym, at=at, reason=reason)
