"""Fixtures of the audit tests: durable stores an attacker can edit, and raw access to rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.application import NeonBlue
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.audit.tampering import RawLog
from tests.support.stores import store_url


@pytest.fixture(params=["sqlite", "postgresql"])
def durable_store(request: pytest.FixtureRequest, tmp_path: Path) -> EventStoreSettings:
    """A fresh SQLite or Postgres store: the ones an attacker can edit with SQL."""
    return EventStoreSettings(
        data_dir=tmp_path, event_store=store_url(request.param, tmp_path, request)
    )


@pytest.fixture
def durable_app(durable_store: EventStoreSettings) -> Iterator[NeonBlue]:
    application = build_app(durable_store)
    yield application
    application.close()


@pytest.fixture
def raw_log(durable_store: EventStoreSettings, durable_app: NeonBlue) -> Iterator[RawLog]:
    log = RawLog(durable_store, durable_app)
    yield log
    log.close()
