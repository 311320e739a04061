"""Fixtures shared by the whole suite: real servers, started once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import freezegun
import pytest
from hypothesis import settings

from tests.support.chroma import ChromaServer, running_chroma_server
from tests.support.kafka import KafkaBroker, running_broker
from tests.support.postgres import PostgresCluster, running_cluster

# freeze_time scans every loaded module's attributes. clickhouse_connect answers that scan
# by importing pandas lazily, which crashed an xdist worker mid-test (a process that had
# loaded chDB), and transformers' lazy modules import ~2,000 submodules: the first
# freeze_time in a worker holding the embedding model took 90-140 s, each later one 2-12 s.
# Large libraries that never call back into NeonBlue are left alone (0.05-0.1 s). Libraries
# through which our code is called (pydantic, anyio, mcp, _pytest, eventsourcing, ...) are
# not: freezegun gives real time to calls with an ignored module in the last frames.
freezegun.configure(
    extend_ignore_list=[
        "clickhouse_connect", "pandas", "transformers", "torch", "sentence_transformers",
        "tokenizers", "safetensors", "huggingface_hub", "sklearn", "scipy", "sympy", "numpy",
        "networkx", "openai", "langsmith", "tiktoken", "opentelemetry", "grpc", "google",
        "kubernetes", "onnxruntime", "pyarrow", "PIL", "matplotlib", "chromadb", "chdb",
        "narwhals", "trio", "requests", "urllib3", "filelock", "fsspec", "regex", "rich",
        "pygments", "playwright",
    ]
)  # fmt: skip

# The local embedding model costs every process that loads it seconds (torch) and each
# document a quarter of a second on a loaded 2-core machine. Tests whose subject is not
# semantic similarity use the deterministic hashing embedding, in process and in every
# server or CLI they start; the model's path is tested where it matters (`auto`):
# tests/projections/test_knowledge.py, the MCP search test, the demo.
os.environ.setdefault("NEONBLUE_EMBEDDINGS", "hashing")

pytest_plugins = ["tests.support.stores"]  # `store` and `app` on memory, SQLite, Postgres

# Timing varies a lot on shared 2-core machines: no per-example deadline (tests that bound
# time are benchmarks under bench/).
settings.register_profile("neonblue", deadline=None)
settings.load_profile("neonblue")


@pytest.hookimpl(trylast=True)  # after pytest's own reordering (by fixture parameter)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, the rest in collection order. With `--dist loadgroup` (CI), groups
    go out largest first and single tests in collection order: a long test collected last
    (the serve kill -9 tests) kept one worker busy while the other had nothing left to run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
    from tests.support.shared import built_once

    return built_once(tmp_path_factory, "portfolio", build_portfolio)
