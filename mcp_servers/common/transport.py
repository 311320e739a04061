"""Running a server over stdio or streamable HTTP (bearer token, /health)."""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from infrastructure.settings import ConfigurationError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]
Transport = Literal["stdio", "http"]


class BearerTokenMiddleware:
    """Rejects HTTP requests without ``Authorization: Bearer <token>`` (except exempt paths)."""

    def __init__(self, app: ASGIApp, token: str, exempt: frozenset[str] = frozenset({"/health"})):
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt:
            headers = dict(scope.get("headers") or [])
            supplied = headers.get(b"authorization", b"")
            if not hmac.compare_digest(supplied, self.expected):
                body = json.dumps({"error": "missing or wrong bearer token"}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_health_route(server: MCPServer, details: Callable[[], dict[str, Any]]) -> None:
    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "server": server.name, **details()})


def http_app(server: MCPServer, host: str, token: str | None) -> ASGIApp:
    """The streamable-HTTP ASGI app; a token is mandatory when binding beyond loopback."""
    if not is_loopback(host) and not token:
        raise ConfigurationError(
            f"Refusing to serve MCP over HTTP on {host} without a token: set NEONBLUE_MCP_TOKEN "
            "(clients then send 'Authorization: Bearer <token>'), or bind to 127.0.0.1."
        )
    app: ASGIApp = server.streamable_http_app(host=host)
    return BearerTokenMiddleware(app, token) if token else app


def serve(
    server: MCPServer,
    transport: Transport,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    name: str = "",
) -> None:
    """Blocks serving ``server``; stdout is the protocol channel under stdio."""
    if transport == "stdio":
        server.run("stdio")
        return
    import sys

    import uvicorn

    app = http_app(server, host, token)  # refuses an unsafe configuration before announcing
    print(
        f"Serving {name or server.name} on http://{host}:{port}/mcp "
        f"({'token required' if token else 'no token: loopback only'}).",
        file=sys.stderr,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
