"""Real parts for projection tests: chDB (one per worker process), event stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from projections.analytics.client import ChdbClient


@pytest.fixture(scope="module")
def chdb_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbClient]:
    """chDB allows one data directory per process at a time, so a module's tests share one
    client, closed with the module: a later module of the same worker may bootstrap its own
    store (its own chDB directory) in-process."""
    client = ChdbClient(tmp_path_factory.mktemp("chdb"))
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    """A unique database prefix per test (no teardown needed)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[NeonBlue]:
    app = build_app(
        EventStoreSettings(data_dir=tmp_path, event_store=f"sqlite:///{tmp_path / 'events.db'}")
    )
    yield app
    app.close()
