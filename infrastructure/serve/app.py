"""The ASGI app of `neonblue serve`: four MCP servers, the CLI's API, /health, /metrics.

| path | what |
|---|---|
| ``/mcp/<server>`` | streamable HTTP of postgresql, clickhouse, chromadb, experiment_intelligence |
| ``/api/...`` | the answers the CLI renders (`infrastructure.read_side`) |
| ``/health`` | status and each projection's position and lag (no token needed) |
| ``/metrics`` | Prometheus text format |
| ``/``, ``/experiments/...``, ... | the web dashboard (`infrastructure.serve.dashboard`; its own sign-in) |

The MCP servers and the agents are built once by the composition root; the agents reach
the servers in this process through the SDK's in-memory transport.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from domain.errors import DomainError
from domain.experiments.checks import KEY_CHARS as EXPERIMENT_KEY_CHARS
from infrastructure.bootstrap import SERVER_NAMES, Services
from infrastructure.read_side import ENGINES, LocalReadSide, dumps
from infrastructure.serve.dashboard.drawer import Drawer
from infrastructure.serve.dashboard.snapshots import Warmer
from infrastructure.serve.follower import ProjectionFollower
from infrastructure.serve.metrics import ServeMetrics
from infrastructure.settings import ConfigurationError
from mcp_servers.common.transport import (
    ASGIApp,
    BearerTokenMiddleware,
    MessageCheckMiddleware,
    is_loopback,
)

log = logging.getLogger("neonblue.serve")
PROJECTIONS = ("analytics", "relational", "knowledge")
MAX_BODY = 64 * 1024  # bytes of an /api request body
QUESTION_CHARS = 2000
KEY_CHARS = 128  # a dimension, a metric, a conversation id
CATCHING_UP = 100_000  # events behind the head: the dashboard's passes wait longer


def json_response(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


class ServeApp:
    """Holds what the routes use; `asgi()` is the app uvicorn runs."""

    def __init__(
        self,
        services: Services,
        host: str = "127.0.0.1",
        token: str | None = None,
        poll_seconds: float = 0.2,
        batch_size: int = 50_000,
        on_ready: Callable[[], None] | None = None,
        on_stopped: Callable[[], None] | None = None,
        draw_ahead: bool = True,
    ) -> None:
        """``draw_ahead``: draw every experiment page's charts in the background (`Drawer`)."""
        if not is_loopback(host) and not token:
            raise ConfigurationError(
                f"Refusing to serve on {host} without a token: set NEONBLUE_MCP_TOKEN "
                "(clients then send 'Authorization: Bearer <token>'), or bind to 127.0.0.1."
            )
        self.services = services
        self.host = host
        self.token = token
        self.on_ready = on_ready
        self.on_stopped = on_stopped
        self.metrics = ServeMetrics()
        self.read_side = LocalReadSide(services)
        self.follower = ProjectionFollower(
            services.read_models(), PROJECTIONS, poll_seconds, batch_size, self.metrics.follower
        )
        self.servers = {name: services.mcp_server(name) for name in SERVER_NAMES}
        self.warmer: Warmer | None = None
        self.drawer: Drawer | None = None
        self.draw_ahead = draw_ahead
        self.dashboard: Any = None  # the dashboard's routes, built by asgi()
        self.agents = "loading"  # the agent flows' modules (`warm_agents`)

    def asgi(self) -> ASGIApp:
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.prometheus, methods=["GET"]),
            Route("/api/results", self.results, methods=["GET"]),
            Route("/api/segments", self.segments, methods=["GET"]),
            Route("/api/projections", self.projections, methods=["GET"]),
            Route("/api/ask", self.ask, methods=["POST"]),
            Route("/api/recommend", self.recommend, methods=["POST"]),
        ]
        for name, server in self.servers.items():
            server.streamable_http_app(json_response=True, host=self.host)  # its session manager
            mount = _WholeRequests(
                MessageCheckMiddleware(StreamableHTTPASGIApp(server.session_manager))
            )
            routes.append(Route(f"/mcp/{name}", mount))
        app: ASGIApp = Starlette(
            routes=routes, lifespan=self.lifespan, exception_handlers={HTTPException: _refused}
        )
        api = BearerTokenMiddleware(app, self.token) if self.token else app
        from infrastructure.serve.dashboard.routes import Dashboard, owns
        from infrastructure.serve.dashboard.snapshots import FILE

        dashboard = Dashboard(
            self.read_side,
            self.follower,
            self.token,
            lambda: self.follower.positions.get("analytics", 0),
            self.services.event_store.data_dir / FILE,
        )
        self.dashboard = dashboard
        self.warmer = Warmer(
            dashboard.views.warm,
            dashboard.views.snapshots,
            catching_up=lambda: self.follower.behind(CATCHING_UP),
        )
        dashboard.views.first_opened = self.warmer.nudge
        if self.draw_ahead:
            self.drawer = Drawer(dashboard.views.draw_unopened, dashboard.views.busy)
            self.warmer.after_pass = self.drawer.wake
        self.follower.listeners.append(self.warmer.moved)
        routed = _ByPath(dashboard.asgi(), api, owns)
        return routed if self.token else _LoopbackOnly(routed, owns)

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        for name, server in self.servers.items():
            tools = {tool.name for tool in await server.list_tools()}
            server.middleware.append(self.metrics.tool_middleware(name, tools))
        if self.warmer is not None:  # the last run's answers, shown until the first pass
            head = await anyio.to_thread.run_sync(self.services.app.head)
            await anyio.to_thread.run_sync(self.warmer.snapshots.load, head)
        await anyio.to_thread.run_sync(self.follower.start)
        if self.warmer is not None:
            await anyio.to_thread.run_sync(self.prime)
            self.warmer.start()
            if self.drawer is not None:  # woken by the warmer's passes
                self.drawer.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for server in self.servers.values():
                    await stack.enter_async_context(server.session_manager.run())
                await stack.enter_async_context(self.services.agents().connected())
                if self.on_ready is not None:
                    self.on_ready()
                threading.Thread(target=self.warm_agents, name="warm-agents", daemon=True).start()
                yield
        finally:
            if self.drawer is not None:
                await anyio.to_thread.run_sync(self.drawer.stop)
            if self.warmer is not None:
                await anyio.to_thread.run_sync(self.warmer.stop)
            await anyio.to_thread.run_sync(self.follower.stop)
            if self.on_stopped is not None:
                self.on_stopped()

    def warm_agents(self) -> None:
        """Loads the agent flows after serve is ready (/health says when they are)."""
        try:
            self.services.agents().warm()
        except Exception as error:  # the first question loads them again and says what failed
            log.warning("loading the agent flows failed: %s", error)
            self.agents = f"failed to load: {error}"
        else:
            self.agents = "ready"

    def prime(self) -> None:
        """The dashboard's first answers, before serve says it is ready (see `Views.prime`)."""
        if self.dashboard is not None:
            try:
                self.dashboard.prime()
            except Exception:  # the pages compute what is missing; serve still starts
                log.exception("priming the dashboard failed")

    # -- routes -----------------------------------------------------------------------------

    async def health(self, _: Request) -> Response:
        try:
            statuses = await anyio.to_thread.run_sync(self.follower.statuses)
        except Exception as error:  # a read model cannot say where it is: say so (503)
            log.exception("health: the projections' positions cannot be read")
            return json_response(
                {
                    "status": "error",
                    "store": self.services.event_store.identity,
                    "error": f"{type(error).__name__}: {error}".splitlines()[0][:500],
                },
                503,
            )
        return json_response(
            {
                "status": "ok",
                "store": self.services.event_store.identity,
                "data_dir": str(self.services.event_store.data_dir),
                "head": max((s.head for s in statuses), default=0),
                "projections": [
                    {**s.as_dict(), "error": self.follower.errors.get(s.name)} for s in statuses
                ],
                "mcp": [f"/mcp/{name}" for name in self.servers],
                "agents": self.agents,
                "dashboard": {
                    **self.warmer.as_dict(),
                    "drawer": self.drawer.as_dict() if self.drawer is not None else None,
                }
                if self.warmer is not None
                else None,
            }
        )

    async def prometheus(self, _: Request) -> Response:
        body = await anyio.to_thread.run_sync(self.metrics.render, self.follower)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def results(self, request: Request) -> Response:
        params = request.query_params

        async def run() -> Any:
            key = _text(_query(params, "experiment"), "experiment", EXPERIMENT_KEY_CHARS)
            engine, cuped = _engine(_query(params, "engine")), _query(params, "cuped") or "true"
            if cuped not in ("true", "false"):
                raise ConfigurationError("cuped must be true or false.")
            return await anyio.to_thread.run_sync(
                self.read_side.results, key, engine, cuped == "true"
            )

        return await self._answer("results", run)

    async def segments(self, request: Request) -> Response:
        params = request.query_params

        async def run() -> Any:
            key = _text(_query(params, "experiment"), "experiment", EXPERIMENT_KEY_CHARS)
            dimension = _query(params, "dimension") or None
            metric = _query(params, "metric") or None
            if dimension:
                dimension = _text(dimension, "dimension", KEY_CHARS)
            if metric:
                metric = _text(metric, "metric", KEY_CHARS)
            return await anyio.to_thread.run_sync(self.read_side.segments, key, dimension, metric)

        return await self._answer("segments", run)

    async def projections(self, _: Request) -> Response:
        statuses = await anyio.to_thread.run_sync(self.follower.statuses)
        return json_response([s.as_dict() for s in statuses])

    async def ask(self, request: Request) -> Response:
        async def run() -> Any:
            body = await _body(request, "question")
            conversation = body.get("conversation_id")
            return await self.read_side.ask_async(
                _text(body.get("question"), "question", QUESTION_CHARS),
                None
                if conversation in (None, "")
                else _text(conversation, "conversation_id", KEY_CHARS),
                _engine(body.get("engine")),
            )

        return await self._answer("ask", run)

    async def recommend(self, request: Request) -> Response:
        async def run() -> Any:
            body = await _body(request, "experiment")
            return await self.read_side.recommend_async(
                _text(body.get("experiment"), "experiment", EXPERIMENT_KEY_CHARS),
                _engine(body.get("engine")),
            )

        return await self._answer("recommend", run)

    async def _answer(self, endpoint: str, run: Callable[[], Awaitable[Any]]) -> Response:
        """``run``'s answer as JSON; errors as one-line messages with their kind."""
        outcome, status, body = "ok", 200, None
        try:
            body = await run()
        except DomainError as error:
            outcome, status, body = "domain", 422, {"kind": "domain", "error": str(error)}
        except ConfigurationError as error:
            outcome, status = "configuration", 400
            body = {"kind": "configuration", "error": str(error)}
        except ClientDisconnect:  # gone before its body arrived: nobody reads an answer
            outcome, status = "disconnected", 400
            body = {"kind": "disconnected", "error": "The client closed the connection."}
        except Exception as error:  # reported to the client as one line, logged in full
            log.exception("%s failed", endpoint)
            outcome, status = "error", 500
            body = {"kind": "internal", "error": f"{type(error).__name__}: {error}"[:500]}
        self.metrics.api_calls.labels(endpoint, outcome).inc()
        return json_response(body, status)


class _WholeRequests:
    """An MCP mount that passes on only the POSTs whose body arrived: a client that left
    before (e.g. a stdio relay whose client closed) is a one-line debug log, as on /api
    (`ServeApp._answer`). Passed on, the SDK reads the body, meets the disconnect and logs
    `ClientDisconnect` with its traceback as an error (mcp 2.3,
    ``StreamableHTTPServerTransport._handle_post_request``), though nobody waits for an
    answer. Bodies over the SDK's limit pass on unread beyond it (the SDK answers 413)."""

    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_REQUEST_BODY_SIZE) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        buffered: list[dict[str, Any]] = []
        size = 0
        while size <= self.max_body:
            message = await receive()
            if message["type"] == "http.disconnect":
                log.debug("%s: the client left before its request arrived", scope["path"])
                return
            buffered.append(message)
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break

        async def replay() -> Any:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


class _ByPath:
    """The dashboard's paths go to the dashboard (a session sign-in), the rest to the API and
    MCP mounts (a bearer token), lifespan events to the latter."""

    def __init__(self, dashboard: ASGIApp, api: ASGIApp, owns: Callable[[str], bool]) -> None:
        self.dashboard, self.api, self.owns = dashboard, api, owns

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.owns(scope["path"]):
            await self.dashboard(scope, receive, send)
        else:
            await self.api(scope, receive, send)


async def _body(request: Request, field: str) -> dict[str, Any]:
    """The JSON object of a request body ({} when there is none); ``field`` names the one
    to show in the refusal of anything else."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ConfigurationError(f"The request body is over {MAX_BODY // 1024} KB.")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):  # nesting deeper than the interpreter's stack
        body = None
    if not isinstance(body, dict):
        raise ConfigurationError(
            f'The request body must be a JSON object, e.g. {{"{field}": "..."}}.'
        )
    return body


def _engine(asked: object) -> str | None:
    """The statistics engine a request asks for (None or "": serve's setting)."""
    if asked in (None, ""):
        return None
    if asked not in ENGINES:  # (not echoed: it may be huge)
        raise ConfigurationError(f"engine must be one of {', '.join(ENGINES)}.")
    return str(asked)


def _query(params: Any, name: str) -> str | None:
    """A query parameter given at most once (which of two was meant is not ours to guess)."""
    values = params.getlist(name)
    if len(values) > 1:
        raise ConfigurationError(f"{name} is given {len(values)} times; give it once.")
    return values[0] if values else None


def _text(value: Any, name: str, limit: int) -> str:
    """A bounded, non-blank string argument."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ConfigurationError(
            f"{name} must be a non-empty string of at most {limit} characters."
        )
    if not value.isascii():
        try:  # JSON's \u escapes can spell lone surrogates, which no store or model can take
            value.encode()
        except UnicodeEncodeError:
            raise ConfigurationError(f"{name} must be valid Unicode text.") from None
    return value


async def _refused(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (no such path, a method a path does not take) as one line
    of JSON, as the API's other errors."""
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        message = (
            "No such endpoint: the API is GET /api/results?experiment=KEY, GET /api/segments?"
            "experiment=KEY, GET /api/projections, "
            "POST /api/ask, POST /api/recommend (and /health, /metrics, /mcp/<server>)."
        )
    elif error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "another method")
        message = f"{request.method} is not accepted here; use {allowed}."
    else:
        message = str(error.detail)
    body = dumps({"kind": "request", "error": message})
    return Response(body, error.status_code, error.headers, media_type="application/json")


class _LoopbackOnly:
    """Without a token, serve trusts whoever reaches its loopback port, and a browser
    reaches it for any web page: through a cross-site form or fetch (its ``Origin`` is that
    site) or DNS rebinding (a name of the page's resolving to 127.0.0.1: ``Host`` is that
    name). Both are refused before anything runs, as the MCP SDK refuses them on its mounts;
    clients that send no ``Origin`` (the CLI, curl) and pages from loopback names pass."""

    def __init__(self, app: ASGIApp, owns: Callable[[str], bool]) -> None:
        self.app, self.owns = app, owns

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refusal = _foreign(dict(scope.get("headers") or []))
            if refusal is not None:
                status, message = refusal
                if self.owns(scope["path"]):
                    body = (
                        '<!DOCTYPE html>\n<html lang="en"><meta charset="utf-8">'
                        "<title>Refused · NeonBlue</title><h1>Refused</h1>"
                        f'<p id="refusal">{html.escape(message)}</p></html>\n'
                    )
                    response = Response(body, status, media_type="text/html")
                else:
                    response = json_response({"kind": "forbidden", "error": message}, status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _foreign(headers: dict[bytes, bytes]) -> tuple[int, str] | None:
    """The status and message refusing a request addressed to another name than a loopback
    one, or sent by a page from another (any port of a loopback name passes, as for the
    SDK); None to serve it."""
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    name = host[1 : host.find("]")] if host.startswith("[") else host.rpartition(":")[0] or host
    if host and not is_loopback(name):
        return 421, (
            "Without a token serve answers only requests addressed to 127.0.0.1 or localhost; "
            "set NEONBLUE_MCP_TOKEN to reach it under another name."
        )
    origin = headers.get(b"origin")
    if origin is not None and not _loopback_origin(origin.decode("latin-1")):
        return 403, (
            "Refused a request sent by another site's page: without a token serve takes "
            "requests only from local pages and from clients that send no Origin header."
        )
    return None


def _loopback_origin(origin: str) -> bool:
    try:
        return is_loopback(urlsplit(origin).hostname or "")
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
