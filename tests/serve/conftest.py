"""`neonblue serve` as a real subprocess, started from a directory other than the repository."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import free_port

TOKEN = "serve-test-token-0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store_copy(portfolio_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the portfolio's event store (serve writes read models next to it)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(portfolio_dir / "events.db", data / "events.db")
    return data


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NEONBLUE_DATA_DIR": str(data_dir),
        "NEONBLUE_EVENT_STORE": "",
        "NEONBLUE_EMBEDDINGS": "hashing",
        "COLUMNS": "200",
        **extra,
    }


def neonblue(
    env: dict[str, str], *args: str, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@dataclass
class Serve:
    process: subprocess.Popen[str]
    url: str

    def health(self, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}/health", headers=headers, timeout=5).json()

    def wait_caught_up(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if all(p["lag_events"] == 0 for p in health["projections"]):
                return health
            time.sleep(0.1)
        raise AssertionError(f"serve did not catch up: {health}")

    def stop(self) -> tuple[int, str]:
        """SIGTERM; the exit code and everything serve printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        return self.process.returncode, out


@contextmanager
def running_serve(env: dict[str, str], cwd: Path, *args: str) -> Iterator[Serve]:
    """Starts serve, waits for /health; stops it (SIGKILL if it will not stop) afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "serve", "--port", str(port), *args],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    serve = Serve(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {process.communicate()[0]}")
            try:
                if httpx.get(f"{serve.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not answer /health in 120 s")
            time.sleep(0.1)
        yield serve
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
