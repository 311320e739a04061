"""MCP servers under test: a small simulated portfolio, real stdio and HTTP transports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.support.postgres import free_port
from tests.support.stores import copy_store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store_copy(portfolio_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the portfolio's event store (tests here write read models)."""
    return copy_store(portfolio_dir, tmp_path)


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "NEONBLUE_DATA_DIR": str(data_dir), "NEONBLUE_EVENT_STORE": "", **extra}


@asynccontextmanager
async def stdio_client(
    name: str, data_dir: Path, timeout: float = 60, **env: str
) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "infrastructure.cli", "mcp", "serve", name],
        env=server_env(data_dir, **env),
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    async with Client(params, read_timeout_seconds=timeout) as client:
        yield client


@contextmanager
def http_server(
    name: str, data_dir: Path, token: str | None = None, host: str = "127.0.0.1"
) -> Iterator[subprocess.Popen[str]]:
    """Runs `neonblue mcp serve NAME --transport http` and waits for /health."""
    port = free_port()
    extra = {"NEONBLUE_MCP_TOKEN": token} if token else {}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infrastructure.cli",
            "mcp",
            "serve",
            name,
            "--transport",
            "http",
            "--host",
            host,
            "--port",
            str(port),
        ],
        env=server_env(data_dir, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    process.port = port  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@asynccontextmanager
async def http_client(port: int, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with create_mcp_http_client(headers=headers) as http:
        transport = streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
        async with Client(transport, read_timeout_seconds=60) as client:
            yield client
