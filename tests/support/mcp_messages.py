"""JSON-RPC messages the stdio tests write by hand (the SDK's client is not used there)."""

from __future__ import annotations

from typing import Any


def initialize(client: str = "test") -> dict[str, Any]:
    """An MCP ``initialize`` request with id 1."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": client, "version": "1"},
        },
    }
