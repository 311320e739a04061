"""`neonblue serve` as a real subprocess (tests and benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.postgres import free_port


def small_store(data: Path, events: int) -> Path:
    """A SQLite store in ``data``: the scenario's experiments and ``events`` of traffic."""
    from infrastructure.bootstrap import build_app
    from infrastructure.settings import EventStoreSettings
    from tests.projections.scenario import create_experiments
    from tests.projections.test_resilience import _traffic

    app = build_app(EventStoreSettings(data_dir=data, event_store=""))
    try:
        create_experiments(app)
        _traffic(app, 0, events)
    finally:
        app.close()
    return data


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NEONBLUE_DATA_DIR": str(data_dir),
        "NEONBLUE_EVENT_STORE": "",
        "NEONBLUE_EMBEDDINGS": "hashing",
        "COLUMNS": "200",
        "NEONBLUE_SERVE_DRAW_AHEAD": "0",  # no background drawing of every page's charts (CPU)
        **extra,
    }


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    url: str
    log: Path  # everything serve printed (a file: a pipe nobody reads could fill and block it)

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
        self.process.wait(timeout=60)
        return self.process.returncode, self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_serve(env: dict[str, str], cwd: Path, *args: str) -> Iterator[Serve]:
    """Starts serve, waits for /health; stops it (SIGKILL if it will not stop) afterwards."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="serve-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "infrastructure.cli", "serve", "--port", str(port), *args],
            env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    serve = Serve(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {serve.output()}")
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
            process.wait(timeout=30)
        log.unlink(missing_ok=True)
