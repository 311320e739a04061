"""`ask` follow-up contexts: expired ones are deleted as others are saved (any number of
clients cannot fill the disk), and `forget_mentions` finds a user id however JSON wrote it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from infrastructure import conversations
from infrastructure.conversations import ConversationStore


def _age(store: ConversationStore, conversation_id: str, seconds: float) -> None:
    path = store._path(conversation_id)
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_expired_contexts_are_deleted_by_a_later_save(tmp_path: Path, monkeypatch) -> None:
    store = ConversationStore(tmp_path, ttl_seconds=3600)
    for name in ("a", "b", "c"):
        store.save(name, {"question": name})
    _age(store, "a", 7200)
    _age(store, "b", 7200)
    draft = tmp_path / "left-by-a-killed-writer.123.456.tmp"
    draft.write_text("{")
    os.utime(draft, (time.time() - 7200,) * 2)
    monkeypatch.setattr(conversations, "PRUNE_EVERY_SECONDS", 0.0)
    store.save("d", {"question": "d"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        store._path(name).name for name in ("c", "d")
    )
    assert store.load("c") == {"question": "c"} and store.load("a") is None


def test_forget_mentions_finds_ids_as_json_wrote_them(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    store.save("plain", {"user_ids": ["auth0|5f7c1"]})
    store.save("accented", {"user_ids": ['Zoë "Z" Müller']})  # escaped in the file
    store.save("other", {"user_ids": ["someone-else"]})
    assert store.forget_mentions(["auth0|5f7c1", 'Zoë "Z" Müller', ""]) == 2
    assert store.load("other") == {"user_ids": ["someone-else"]}
    assert store.load("plain") is None and store.load("accented") is None
