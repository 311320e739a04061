"""A `neonblue serve` subprocess for the benchmarks, and percentiles."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NEONBLUE_DATA_DIR": str(data_dir),
        "NEONBLUE_EVENT_STORE": "",
        "NEONBLUE_EMBEDDINGS": os.environ.get("NEONBLUE_EMBEDDINGS", "hashing"),
        **extra,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(data_dir: Path, timeout: float = 600) -> Iterator[str]:
    """Runs serve on ``data_dir`` until every projection reached the head; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "serve", "--port", str(port)],
        env=environment(data_dir), cwd=data_dir,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError("serve exited while starting")
            try:
                health = httpx.get(f"{url}/health", timeout=5).json()
                if all(p["lag_events"] == 0 for p in health["projections"]):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not catch up in time")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
