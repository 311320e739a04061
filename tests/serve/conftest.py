"""Fixtures for `neonblue serve` tests: a private store copy, run from another directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.serve import Serve, env_for, running_serve
from tests.support.stores import copy_store

__all__ = ["TOKEN", "Serve", "env_for", "neonblue", "running_serve"]

TOKEN = "serve-test-token-0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store_copy(portfolio_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the portfolio's event store (serve writes read models next to it)."""
    return copy_store(portfolio_dir, tmp_path / "data")


def neonblue(
    env: dict[str, str], *args: str, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
