"""Short conversation context for follow-up questions: the last plan per conversation id.

One small JSON file per conversation under ``<data dir>/conversations`` (the id is hashed
into the file name, so any id is safe); a context older than ``ttl_seconds`` is forgotten,
and its file deleted by the next save (so any number of clients cannot fill the disk). A
plan may quote a user id: `forget_mentions` deletes those that do (`privacy forget`).
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
PRUNE_EVERY_SECONDS = 60.0


class ConversationStore:
    def __init__(self, directory: Path, ttl_seconds: float = 3600.0) -> None:
        self.directory = directory
        self.ttl_seconds = ttl_seconds
        self._pruned_at = 0.0

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
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_SECONDS:
            self._pruned_at = time.monotonic()
            self.prune()

    def prune(self) -> int:
        """Deletes the expired contexts (and drafts a killed writer left); how many."""
        deadline = time.time() - self.ttl_seconds
        removed = 0
        for path in self._files("*"):
            try:
                if path.stat().st_mtime < deadline:
                    path.unlink()
                    removed += 1
            except OSError:  # removed meanwhile by another process
                continue
        return removed

    def forget_mentions(self, needles: list[str]) -> int:
        """Deletes every context whose plan quotes one of ``needles`` (e.g. a user id and
        its pseudonym); how many."""
        wanted = [n for needle in needles if needle for n in (needle, _json_text(needle))]
        removed = 0
        for path in self._files("*.json"):
            try:
                text = path.read_text(errors="replace")
                if any(n in text for n in wanted):
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def _files(self, pattern: str) -> list[Path]:
        try:
            return [p for p in self.directory.glob(pattern) if p.is_file()]
        except OSError:
            return []

    def forget(self, conversation_id: str) -> None:
        self._path(conversation_id).unlink(missing_ok=True)


def _json_text(value: str) -> str:
    """How ``value`` appears inside a JSON string (quotes, backslashes, non-ASCII escaped)."""
    return json.dumps(value)[1:-1]
