"""Fixtures shared by the whole suite: real servers, started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import freezegun
import pytest
from hypothesis import settings

from tests.support.chroma import ChromaServer, running_chroma_server
from tests.support.kafka import KafkaBroker, running_broker
from tests.support.postgres import PostgresCluster, running_cluster

# freeze_time scans every loaded module's attributes; clickhouse_connect answers that scan
# by importing pandas lazily, which crashed an xdist worker mid-test (a process that had
# loaded chDB): leave those modules' clocks alone, they read none.
freezegun.configure(extend_ignore_list=["clickhouse_connect", "pandas"])

pytest_plugins = ["tests.support.stores"]  # `store` and `app` on memory, SQLite, Postgres

# Timing varies a lot on shared 2-core machines: no per-example deadline (tests that bound
# time are benchmarks under bench/).
settings.register_profile("neonblue", deadline=None)
settings.load_profile("neonblue")


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


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[ChromaServer]:
    """A Chroma server (`chroma run`) on loopback for the whole session; tests that use it
    delete their collections (`ChromaServer.clear`)."""
    with running_chroma_server() as server:
        yield server


@pytest.fixture(scope="session")
def portfolio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite event store holding the simulated portfolio (read-only for tests)."""
    from tests.support.portfolio import build_portfolio

    data_dir = tmp_path_factory.mktemp("portfolio")
    build_portfolio(data_dir)
    return data_dir
