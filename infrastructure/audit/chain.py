"""Tamper evidence at write time: every stored event is chained to its stream's previous one.

The mapper is the single place hashes are computed, so every path that stores events
through ``app.mapper.to_stored_event`` (``app.save``, tracked batches, ingest's COPY path)
chains them. The chain lives in the stored JSON state as a fixed-length first key::

    {"_chain":"<prev sha256 hex>:<sha256 hex>", ...the event's own JSON fields...}

``hash = sha256(prev || "<originator_id>\\x1f<version>\\x1f<topic>\\x1f" || payload)`` where
``payload`` is the state exactly as the transcoder encoded it (the stored bytes with the
header cut out). A stream's first event chains to ``GENESIS`` (the originator id is in
the hash). The header is stripped again on read, so domain events are unchanged.
Snapshots are derived data outside the notification log and are stored unchained.
"""

from __future__ import annotations

import hashlib
import re
import threading
from binascii import unhexlify
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import CanSnapshotAggregate, DomainEventProtocol
from eventsourcing.persistence import StoredEvent

from infrastructure.transcoding import FastMapper

GENESIS = bytes(32)
HEADER_START = b'{"_chain":"'
HEADER_LENGTH = len(HEADER_START) + 64 + 1 + 64 + 2  # ... prev:hash",
CACHE_SIZE = 200_000
_HEADER = re.compile(rb'\{"_chain":"([0-9a-f]{64}):([0-9a-f]{64})"([,}])')

StoredVersion = Callable[[UUID | str, int], StoredEvent | None]


class ChainError(Exception):
    """The stored event cannot be chained (e.g. its predecessor is missing)."""


@dataclass(frozen=True, slots=True)
class Seal:
    """The chain header of one stored event."""

    prev_hash: bytes
    hash: bytes


def event_hash(
    prev_hash: bytes, originator_id: UUID | str, version: int, topic: str, payload: bytes
) -> bytes:
    """The chained hash of one stored event (see the module docstring)."""
    digest = hashlib.sha256(prev_hash)
    digest.update(f"{originator_id}\x1f{version}\x1f{topic}\x1f".encode())
    digest.update(payload)
    return digest.digest()


def seal_state(
    payload: bytes, prev_hash: bytes, originator_id: UUID | str, version: int, topic: str
) -> tuple[bytes, bytes]:
    """The stored state (header + payload) and the hash, for a JSON-object payload."""
    if not payload.startswith(b"{"):
        raise ChainError("only JSON-object states can be chained (no compressor or cipher)")
    digest = event_hash(prev_hash, originator_id, version, topic, payload)
    rest = payload[1:]
    header = HEADER_START + prev_hash.hex().encode() + b":" + digest.hex().encode()
    return header + (b'"' if rest == b"}" else b'",') + rest, digest


def legacy_hash(stored: StoredEvent) -> bytes:
    """The hash standing in for an unchained (pre-audit) event, so chains can continue."""
    return event_hash(
        GENESIS, stored.originator_id, stored.originator_version, stored.topic, stored.state
    )


def split_state(state: bytes) -> tuple[Seal | None, bytes]:
    """The seal (None for an unchained state) and the original payload bytes.

    The header must be exactly as written (lowercase hex), so any changed byte shows.
    """
    match = _HEADER.match(state)
    if match is None:
        return None, state
    seal = Seal(unhexlify(match[1]), unhexlify(match[2]))
    return seal, b"{" + state[match.end() - (match[3] == b"}") :]


class ChainingMapper(FastMapper):
    """A mapper that seals every stored event into its stream's hash chain.

    The previous hash of a stream comes from a bounded cache filled whenever events are
    mapped (commands load an aggregate before appending), or else from ``stored_version``,
    which reads one stored event of the stream from the recorder. An unchained (pre-audit)
    predecessor stands in with its :func:`legacy_hash`, which ``audit verify`` reports.
    """

    def __init__(
        self, *args: Any, stored_version: StoredVersion | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.compressor is not None or self.cipher is not None:
            raise ChainError("the chaining mapper needs plain JSON states (no compressor/cipher)")
        self.stored_version = stored_version
        self._last: OrderedDict[UUID | str, tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        if isinstance(domain_event, CanSnapshotAggregate):
            return stored
        oid, version = stored.originator_id, stored.originator_version
        prev_hash = self._previous_hash(oid, version)
        state, digest = seal_state(stored.state, prev_hash, oid, version, stored.topic)
        self._remember(oid, version, digest)
        return StoredEvent(oid, version, stored.topic, state)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        seal, payload = split_state(stored_event.state)
        if seal is None:
            event = super().to_domain_event(stored_event)
            if isinstance(event, CanSnapshotAggregate):  # loading skips the events it covers:
                with self._lock:  # a cached hash may be of a write that failed; re-read
                    self._last.pop(stored_event.originator_id, None)
            return event
        self._remember(stored_event.originator_id, stored_event.originator_version, seal.hash)
        return super().to_domain_event(
            StoredEvent(
                stored_event.originator_id,
                stored_event.originator_version,
                stored_event.topic,
                payload,
            )
        )

    def forget(self) -> None:
        """Drops the cache of last hashes (the recorder is asked again)."""
        with self._lock:
            self._last.clear()

    def _remember(self, oid: UUID | str, version: int, digest: bytes) -> None:
        with self._lock:
            self._last[oid] = (version, digest)
            self._last.move_to_end(oid)
            if len(self._last) > CACHE_SIZE:
                self._last.popitem(last=False)

    def _previous_hash(self, oid: UUID | str, version: int) -> bytes:
        if version <= 1:
            return GENESIS
        with self._lock:
            cached = self._last.get(oid)
        if cached is not None and cached[0] == version - 1:
            return cached[1]
        previous = self.stored_version(oid, version - 1) if self.stored_version else None
        if previous is None:
            raise ChainError(
                f"cannot chain version {version} of {oid}: version {version - 1} is not in the "
                "store; load the aggregate before appending to it."
            )
        seal, _ = split_state(previous.state)
        return legacy_hash(previous) if seal is None else seal.hash
