"""Running a server over stdio or streamable HTTP (bearer token, /health).

Tokens: a configured token must be at least ``MIN_TOKEN_CHARS`` characters with no
surrounding whitespace, or the process refuses to start (a blank token would otherwise
read as "token required" while any blank ``Bearer`` header matched it). The scheme is
matched case-insensitively (RFC 9110), the credentials in constant time. Both
`neonblue mcp serve --transport http` and `neonblue serve` use these checks.

A POST whose body is JSON but not a JSON-RPC message is answered as over stdio: -32600 in
one short line (`MessageCheckMiddleware`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

import pydantic_core
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp_types import JSONRPCError, jsonrpc_message_adapter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from infrastructure.settings import ConfigurationError
from mcp_servers.common.stdio import error_reply

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]
Transport = Literal["stdio", "http"]


MIN_TOKEN_CHARS = 16


def checked_token(token: str | None) -> str | None:
    """The configured token, or None when unset; refuses blank, padded or short tokens."""
    if token is None or token == "":
        return None
    if not token.strip() or token != token.strip():
        raise ConfigurationError(
            "NEONBLUE_MCP_TOKEN is blank or has surrounding whitespace; set a token of at "
            f"least {MIN_TOKEN_CHARS} visible characters, or unset it (loopback only)."
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigurationError(
            f"NEONBLUE_MCP_TOKEN has {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')."
        )
    return token


def bearer_credentials(header: bytes) -> bytes | None:
    """The credentials of an ``Authorization: Bearer <credentials>`` header (any case of
    the scheme), or None for another scheme or blank credentials."""
    scheme, _, credentials = header.strip().partition(b" ")
    credentials = credentials.strip()
    if scheme.lower() != b"bearer" or not credentials:
        return None
    return credentials


class BearerTokenMiddleware:
    """Rejects HTTP requests without ``Authorization: Bearer <token>`` (except exempt paths)."""

    def __init__(self, app: ASGIApp, token: str, exempt: frozenset[str] = frozenset({"/health"})):
        self.app = app
        self.expected = (checked_token(token) or "").encode()
        if not self.expected:
            raise ConfigurationError("A bearer token is required for the token middleware.")
        self.exempt = exempt

    def accepts(self, header: bytes) -> bool:
        supplied = bearer_credentials(header)
        # compare_digest takes time independent of where the bytes differ
        return supplied is not None and hmac.compare_digest(supplied, self.expected)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt:
            headers = dict(scope.get("headers") or [])
            if not self.accepts(headers.get(b"authorization", b"")):
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


class MessageCheckMiddleware:
    """Answers a POSTed JSON body that is not a JSON-RPC message with -32600 (invalid
    request) in one line, as the stdio relay does (`common/stdio.py`). The SDK answers it
    with -32602 and pydantic's report on every kind of message (kilobytes over many lines,
    quoting the body). Other requests, and bodies over the SDK's size limit (it answers
    413), pass through unchanged."""

    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_REQUEST_BODY_SIZE) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _json_body(scope):
            await self.app(scope, receive, send)
            return
        buffered: list[dict[str, Any]] = []
        size, complete = 0, False
        while size <= self.max_body:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                complete = size <= self.max_body
                break
        if complete:
            reply = _not_a_message(b"".join(m.get("body", b"") for m in buffered))
            if reply is not None:
                body = reply.model_dump(mode="json", by_alias=True, exclude_unset=True)
                await JSONResponse(body, status_code=400)(scope, receive, send)
                return

        async def replay() -> Any:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


def _json_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or [])
    return headers.get(b"content-type", b"").lower().startswith(b"application/json")


def _not_a_message(body: bytes) -> JSONRPCError | None:
    """The error reply for JSON that is not a JSON-RPC message; None for a message, or for
    text that is not JSON (the SDK's parse error is one line already)."""
    try:
        raw = pydantic_core.from_json(body)
    except ValueError:
        return None
    try:
        jsonrpc_message_adapter.validate_python(raw, by_name=False)
    except ValidationError as problem:
        return error_reply(problem)
    return None


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
    token = checked_token(token)
    if not is_loopback(host) and not token:
        raise ConfigurationError(
            f"Refusing to serve MCP over HTTP on {host} without a token: set NEONBLUE_MCP_TOKEN "
            "(clients then send 'Authorization: Bearer <token>'), or bind to 127.0.0.1."
        )
    app: ASGIApp = MessageCheckMiddleware(server.streamable_http_app(host=host))
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
        from mcp_servers.common.stdio import run_stdio

        run_stdio(server)
        return
    import sys

    import uvicorn

    token = checked_token(token)
    app = http_app(server, host, token)  # refuses an unsafe configuration before announcing

    def announce() -> None:
        print(
            f"Serving {name or server.name} on http://{host}:{port}/mcp "
            f"({'token required' if token else 'no token: loopback only'}).",
            file=sys.stderr,
        )

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:  # listening: only now say where
                announce()

    Announcing(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
