"""Transport edges (issue 15): token rules at start and per request, parse-error replies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from infrastructure.settings import ConfigurationError
from mcp_servers.common.transport import BearerTokenMiddleware, checked_token
from tests.mcp_servers.conftest import server_env
from tests.support import mcp_messages
from tests.support.postgres import free_port

TOKEN = "a-sixteen-char-token-0123"
ROOT = Path(__file__).resolve().parents[2]


# -- item 8: tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize("token", [" ", "   ", "\t", "short", "fifteen-chars-x", f" {TOKEN}"])
def test_blank_padded_or_short_tokens_are_refused(token):
    with pytest.raises(ConfigurationError, match="NEONBLUE_MCP_TOKEN"):
        checked_token(token)
    with pytest.raises(ConfigurationError):
        BearerTokenMiddleware(Starlette(), token)


def test_unset_token_means_none():
    assert checked_token(None) is None and checked_token("") is None
    assert checked_token(TOKEN) == TOKEN


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer ", 401),
        ("Bearer", 401),
        ("Bearer    ", 401),
        (f"Basic {TOKEN}", 401),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN[:-1]}", 401),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
        (f"BEARER {TOKEN}", 200),
        (f"Bearer  {TOKEN} ", 200),
    ],
)
async def test_bearer_scheme_is_case_insensitive_and_blank_credentials_fail(header, status):
    async def ok(_):
        return PlainTextResponse("ok")

    app = BearerTokenMiddleware(Starlette(routes=[Route("/mcp", ok)]), TOKEN)
    headers = {"Authorization": header} if header is not None else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.get("/mcp", headers=headers)).status_code == status


def mcp_http(data_dir: Path, host: str, token: str, port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "mcp", "serve", "postgresql",
         "--transport", "http", "--host", host, "--port", str(port)],
        env=server_env(data_dir, NEONBLUE_MCP_TOKEN=token),
        capture_output=True, text=True, timeout=60, cwd=str(ROOT),
    )  # fmt: skip


@pytest.mark.parametrize("token", [" ", "short"])
def test_mcp_serve_refuses_bad_tokens_before_announcing(portfolio_dir, token):
    result = mcp_http(portfolio_dir, "0.0.0.0", token, free_port())
    assert result.returncode == 2, result.stderr
    assert "NEONBLUE_MCP_TOKEN" in result.stderr
    assert "Serving" not in result.stderr and "Traceback" not in result.stderr


def test_mcp_serve_announces_only_once_listening(portfolio_dir):
    """A port already taken: uvicorn fails to bind, and no serving line was printed."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = mcp_http(portfolio_dir, "127.0.0.1", TOKEN, taken.getsockname()[1])
    assert result.returncode != 0
    assert "Serving" not in result.stderr


def test_neonblue_serve_refuses_blank_token(portfolio_dir):
    result = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "serve", "--port", str(free_port())],
        env=server_env(portfolio_dir, NEONBLUE_MCP_TOKEN=" "),
        capture_output=True, text=True, timeout=60, cwd=str(ROOT),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "NEONBLUE_MCP_TOKEN" in result.stderr and "Serving" not in result.stderr


# -- item 10: malformed stdio input gets a JSON-RPC error reply -------------------------------


def test_malformed_stdio_lines_get_error_replies(portfolio_dir):
    initialize = mcp_messages.initialize()
    lines = [
        json.dumps(initialize),
        "garbage",
        '{"jsonrpc": "2.0", "id": 2, "method": "tools/list"',  # truncated
        "1" * 5000,
        "[" * 5000 + "]" * 5000,
        json.dumps({"jsonrpc": "2.0", "id": 7, "method": 5}),
        json.dumps({"jsonrpc": "2.0", "id": 8, "method": "ping"}),
        # the last line before end of input: a tool call still running when stdin closes
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 9,
                "method": "tools/call",
                "params": {"name": "list_experiments", "arguments": {}},
            }
        ),
    ]
    env = server_env(portfolio_dir, NEONBLUE_SERVE_DISCOVER="false")
    result = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "mcp", "serve", "postgresql"],
        input="\n".join(lines) + "\n", env=env, capture_output=True, text=True,
        timeout=120, cwd=str(ROOT),
    )  # fmt: skip
    replies = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    by_id = {r["id"]: r for r in replies if r.get("id") is not None}
    assert "result" in by_id[1], replies
    assert by_id[7]["error"]["code"] == -32600 and "method" in by_id[7]["error"]["message"]
    assert by_id[8] == {"jsonrpc": "2.0", "id": 8, "result": {}}
    listed = by_id[9]["result"]["structuredContent"]
    assert by_id[9]["result"]["isError"] is False and listed["experiments"], by_id[9]
    parse_errors = [r for r in replies if r.get("id") is None]
    assert [r["error"]["code"] for r in parse_errors] == [-32700] * 4, replies
