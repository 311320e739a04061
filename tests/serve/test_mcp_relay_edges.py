"""`neonblue mcp serve` beside a running `neonblue serve`, at the edges: the stdio relay at
end of input, a client that leaves an MCP mount mid-request, and HTTP servers that would
open the read models serve owns."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.serve.conftest import env_for, neonblue, running_serve
from tests.support.mcp_messages import initialize
from tests.support.postgres import free_port
from tests.support.serve import Serve, small_store

pytestmark = pytest.mark.xdist_group("test_mcp_relay_edges")  # one serve for the module

INITIALIZE = initialize("relay-edges")
PROMPT_EXIT = 6.0  # seconds from end of input to exit (2 s asked; the machine may be loaded)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_store(tmp_path_factory.mktemp("relay-edges"), 50)


@pytest.fixture(scope="module")
def served(data: Path) -> Iterator[Serve]:
    with running_serve(env_for(data), data) as serve:
        serve.wait_caught_up()
        yield serve


class Relay:
    """`neonblue mcp serve NAME` over stdio as a desktop client runs it (killed on exit)."""

    def __init__(self, data: Path, name: str, stderr: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infrastructure.cli", "mcp", "serve", name],
            env=env_for(data), cwd=data, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr,
        )  # fmt: skip
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, *messages: Any) -> None:
        assert self.process.stdin is not None
        for message in messages:
            text = message if isinstance(message, str) else json.dumps(message)
            self.process.stdin.write(text.encode() + b"\n")
        self.process.stdin.flush()

    def close_input(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return time.monotonic()

    def answer(self, timeout: float = 30) -> dict[str, Any]:
        return json.loads(self.lines.get(timeout=timeout))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def relay_ready(relay: Relay) -> None:
    """Waits until the relay reads its input (it answers a malformed line itself)."""
    relay.send("not json")
    assert relay.answer()["error"]["code"] == -32700


def test_relay_answers_what_it_read_then_exits_at_end_of_input(
    served: Serve, data: Path, tmp_path: Path
):
    with (tmp_path / "relay.err").open("w+b") as stderr:
        # initialize, then end of input at once (as `printf ... | neonblue mcp serve`)
        relay = Relay(data, "postgresql", stderr)
        try:
            relay_ready(relay)
            relay.send(INITIALIZE)
            closed = relay.close_input()
            assert relay.answer()["result"]["serverInfo"]["name"] == "neonblue-postgresql"
            assert relay.process.wait(timeout=PROMPT_EXIT) == 0
            assert time.monotonic() - closed < PROMPT_EXIT
        finally:
            relay.kill()

        # a tool call still running at end of input is answered before the relay exits
        relay = Relay(data, "postgresql", stderr)
        try:
            relay_ready(relay)
            relay.send(INITIALIZE)
            assert relay.answer()["id"] == 1
            relay.send(
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": "call", "method": "tools/call",
                 "params": {"name": "list_experiments", "arguments": {"limit": 5}}},
            )  # fmt: skip
            closed = relay.close_input()
            listed = relay.answer()
            assert listed["id"] == "call" and not listed["result"]["isError"], listed
            assert relay.process.wait(timeout=PROMPT_EXIT) == 0
            assert time.monotonic() - closed < PROMPT_EXIT
        finally:
            relay.kill()
        stderr.seek(0)
        assert b"Traceback" not in stderr.read()
    assert "Traceback" not in served.output()


def test_a_client_leaving_an_mcp_mount_mid_request_is_no_error(served: Serve):
    host, port = "127.0.0.1", int(served.url.rsplit(":", 1)[1])
    before = len(served.output())
    body = json.dumps(INITIALIZE).encode()
    with socket.create_connection((host, port)) as sock:  # half the body, then gone
        sock.sendall(
            b"POST /mcp/postgresql HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\nContent-Type: application/json\r\n".encode()
            + b"Accept: application/json, text/event-stream\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        time.sleep(0.3)  # serve has started on the request and waits for the rest
    deadline = time.monotonic() + 2  # the SDK logged its traceback within milliseconds
    while time.monotonic() < deadline:
        assert "ClientDisconnect" not in served.output()[before:]
        time.sleep(0.1)
    # the mount still answers whole requests
    answer = httpx.post(
        f"{served.url}/mcp/postgresql",
        json=INITIALIZE,
        headers={"Accept": "application/json, text/event-stream"},
        timeout=30,
    )
    assert answer.json()["result"]["serverInfo"]["name"] == "neonblue-postgresql"
    output = served.output()[before:]
    assert "Traceback" not in output and "ClientDisconnect" not in output, output[-3000:]


@pytest.mark.parametrize(
    ("name", "discover"),
    [
        ("clickhouse", "1"),
        ("chromadb", "1"),
        ("experiment_intelligence", "1"),
        ("clickhouse", "0"),  # serve not looked up: the data directory's lock still tells
    ],
)
def test_servers_of_the_read_models_serve_owns_refuse_http_beside_it(
    served: Serve, data: Path, name: str, discover: str
):
    env = env_for(data, NEONBLUE_SERVE_DISCOVER=discover)
    port = str(free_port())
    done = neonblue(env, "mcp", "serve", name, "--transport", "http", "--port", port,
                    cwd=data, timeout=60)  # fmt: skip
    message = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr
    assert message.startswith("configuration error: `neonblue serve` at"), message
    assert f"{served.url}" in message and f"/mcp/{name}" in message
    assert "Serving" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    if discover == "1":
        assert f"{served.url}/mcp/{name}" in message


@pytest.mark.anyio
async def test_postgresql_serves_http_beside_serve(served: Serve, data: Path):
    """It opens only the event store and the relational model, which processes share."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "mcp", "serve", "postgresql",
         "--transport", "http", "--port", str(port)],
        env=env_for(data), cwd=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                await anyio.sleep(0.1)
        assert process.poll() is None, process.communicate()[1]
        transport = streamable_http_client(f"http://127.0.0.1:{port}/mcp")
        async with Client(transport, read_timeout_seconds=60) as client:
            listed = await client.call_tool("list_experiments", {"limit": 5})
        assert not listed.is_error, listed.content
        assert {e["key"] for e in listed.structured_content["experiments"]} >= {"alpha"}
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
