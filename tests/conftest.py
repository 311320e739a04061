"""Fixtures shared by the whole suite: real servers, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresCluster, running_cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the whole session (never skipped: CI needs it)."""
    with running_cluster() as cluster:
        yield cluster
