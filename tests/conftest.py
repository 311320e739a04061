"""Fixtures shared by the whole suite: real servers, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kafka import KafkaBroker, running_broker
from tests.support.postgres import PostgresCluster, running_cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the whole session (never skipped: CI needs it)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A Kafka-protocol broker (tansu, memory storage) on loopback for the whole session."""
    with running_broker() as broker:
        yield broker
