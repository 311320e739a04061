"""The application on every event store: tests written once run on memory, SQLite, Postgres.

Registered as a pytest plugin in tests/conftest.py, so every test folder can use `store`
and `app`.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from infrastructure.settings.privacy import SECRET_FILE
from tests.support.postgres import PostgresCluster


def copy_store(source: Path, target: Path) -> Path:
    """A copy of the embedded event store in ``source`` (a data directory) into ``target``:
    the database as of now (SQLite's backup, so what is still in its write-ahead log comes
    too) and the privacy secret its pseudonyms were made with (the store refuses another)."""
    target.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.closing(sqlite3.connect(source / "events.db")) as original,
        contextlib.closing(sqlite3.connect(target / "events.db")) as copy,
    ):
        original.backup(copy)
    if (source / SECRET_FILE).exists():
        shutil.copy(source / SECRET_FILE, target / SECRET_FILE)
    return target


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "memory":
        return "memory:"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.url(cluster.create_database())


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EventStoreSettings:
    """Settings for a fresh, empty event store of each kind."""
    return EventStoreSettings(
        data_dir=tmp_path, event_store=store_url(request.param, tmp_path, request)
    )


@pytest.fixture
def app(store: EventStoreSettings) -> Iterator[NeonBlue]:
    application = build_app(store)
    yield application
    application.close()
