"""Short conversation context for follow-up questions: the last plan per conversation id.

One small JSON file per conversation under ``<data dir>/conversations`` (the id is hashed
into the file name, so any id is safe); a context older than ``ttl_seconds`` is forgotten.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

MAX_ID = 128


class ConversationStore:
    def __init__(self, directory: Path, ttl_seconds: float = 3600.0) -> None:
        self.directory = directory
        self.ttl_seconds = ttl_seconds

    def _path(self, conversation_id: str) -> Path:
        digest = hashlib.sha256(conversation_id[:MAX_ID].encode()).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    def load(self, conversation_id: str) -> dict[str, Any] | None:
        path = self._path(conversation_id)
        try:
            if time.time() - path.stat().st_mtime > self.ttl_seconds:
                return None
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def save(self, conversation_id: str, plan: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(conversation_id)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # one writer
        temporary.write_text(json.dumps(plan, default=str))
        temporary.replace(path)  # atomic: a concurrent reader sees the old or the new plan

    def forget(self, conversation_id: str) -> None:
        self._path(conversation_id).unlink(missing_ok=True)
