"""Signed checkpoints of the per-log running hash (HMAC-SHA256 with the operator key).

A checkpoint says "after every event up to ``position`` (``count`` events), the running
hash in notification order was ``running_hash``". Stored one JSON object per line in a
file the operator keeps (and can export elsewhere); ``audit verify --checkpoints FILE``
recomputes the running hash and fails on any deletion, insertion, reordering or
alteration before a checkpoint. Events after the newest checkpoint are only covered by
the per-stream chains, so take checkpoints regularly (e.g. hourly from cron).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from infrastructure.audit.errors import AuditError, InvalidCheckpoint


@dataclass(frozen=True)
class Checkpoint:
    position: int
    count: int
    running_hash: str
    created_at: str
    key_id: str = ""
    signature: str = ""

    def signed_bytes(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k != "signature"}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def sign(self, key: bytes) -> Checkpoint:
        signed = replace(self, key_id=key_id(key))
        mac = hmac.new(key, signed.signed_bytes(), hashlib.sha256).hexdigest()
        return replace(signed, signature=mac)

    def is_valid(self, key: bytes) -> bool:
        mac = hmac.new(key, self.signed_bytes(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, self.signature)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Checkpoint:
        return cls(**json.loads(line))


def key_id(key: bytes) -> str:
    """A short public fingerprint of the key, to tell which key signed a checkpoint."""
    return hashlib.sha256(b"neonblue-audit-key:" + key).hexdigest()[:12]


def new_checkpoint(
    position: int, count: int, running_hash: bytes, now: datetime, key: bytes
) -> Checkpoint:
    return Checkpoint(position, count, running_hash.hex(), now.isoformat()).sign(key)


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(checkpoint.to_json() + "\n")


def load_checkpoints(path: Path, key: bytes) -> list[Checkpoint]:
    """The file's checkpoints; InvalidCheckpoint when one was not signed with ``key``."""
    if not path.exists():
        raise AuditError(
            f"No checkpoint file at {path}; create one with `neonblue audit checkpoint`."
        )
    checkpoints = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            checkpoint = Checkpoint.from_json(line)
        except (ValueError, TypeError) as error:
            raise InvalidCheckpoint(f"{path}:{number} is not a checkpoint: {error}") from None
        if not checkpoint.is_valid(key):
            raise InvalidCheckpoint(
                f"{path}:{number} (position {checkpoint.position}) has a bad signature: it was "
                f"altered or signed with another key (key id {checkpoint.key_id!r}, yours "
                f"{key_id(key)!r})."
            )
        checkpoints.append(checkpoint)
    return checkpoints
