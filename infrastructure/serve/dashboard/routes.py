"""The dashboard's pages and forms (server-rendered with Jinja2; static files ship here).

| path | what |
|---|---|
| ``/`` | experiments: filters by status and tag, semantic search |
| ``/experiments/{key}`` | scorecard (engine, CUPED), charts, guardrails, segments, history, recommendations, replay as of |
| ``/approvals`` | pending recommendations; approve or reject (POST ``/approvals/{id}``) |
| ``/ask`` | the natural-language box (POST) |
| ``/operations`` | projections, rebuilds with progress (POST ``/operations/rebuild``), log growth, dead letters, ``audit verify`` (POST ``/operations/verify``) |
| ``/live`` | the read models' position, polled by the pages to refresh without a reload |
| ``/login``, ``/logout`` | sign in with the serve token (only when one is set) |
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from domain.errors import DomainError
from infrastructure.read_side import LocalReadSide
from infrastructure.serve.dashboard.access import Access, safe_next, text_field, visible
from infrastructure.serve.dashboard.views import Views, moment, number, percent
from infrastructure.serve.follower import ProjectionFollower, RebuildRefused
from infrastructure.settings import ConfigurationError

log = logging.getLogger("neonblue.dashboard")
HERE = Path(__file__).parent
PREFIXES = ("/experiments", "/approvals", "/ask", "/operations", "/live", "/login", "/logout", "/static", "/favicon.ico")  # fmt: skip
QUESTION_CHARS = 2000
NOTICES = 200


def templates() -> Any:
    """The pages' Jinja environment: a value a template names and the view lacks is an
    error (the page says so), not an empty cell."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=visible,  # what a request or the store quotes cannot reorder or hide text
    )
    environment.filters.update(percent=percent, number=number, moment=moment)
    return environment


def owns(path: str) -> bool:
    """Whether ``path`` is one of the dashboard's (the rest is the API and MCP)."""
    return path == "/" or any(path == p or path.startswith(p + "/") for p in PREFIXES)


class Dashboard:
    def __init__(
        self,
        read_side: LocalReadSide,
        follower: ProjectionFollower,
        token: str | None,
        position: Callable[[], int] | None = None,
        snapshot_file: Path | None = None,
    ) -> None:
        """``position``: the analytics model's, as the follower publishes it;
        ``snapshot_file``: where the answers computed ahead are kept between runs."""
        self.views = Views(read_side, position, snapshot_file)
        self.read_side = read_side
        self.follower = follower
        self.access = Access(token)
        self.templates = templates()
        self.heads: deque[tuple[float, int]] = deque(maxlen=120)  # (time, head) seen by /live
        self.verified: dict[str, Any] | None = None
        # one-time messages after a form, named in the redirect (not kept in the cookie:
        # another tab's concurrent request would write the cookie back without them)
        self.notices: OrderedDict[str, str] = OrderedDict()

    def prime(self) -> None:
        """Before serve says it is ready: the first answers (`Views.prime`) and every
        template compiled (the first render of a page would pay it)."""
        self.views.prime()
        for name in self.templates.list_templates():
            self.templates.get_template(name)

    def notice(self, path: str, message: str) -> Response:
        """Redirect to ``path`` showing ``message`` once."""
        name = secrets.token_urlsafe(8)
        self.notices[name] = message
        while len(self.notices) > NOTICES:
            self.notices.popitem(last=False)
        return RedirectResponse(f"{path}?notice={name}", status_code=303)

    def asgi(self) -> Starlette:
        routes = [
            Route("/", self.experiments),
            Route("/experiments/{key}", self.experiment),
            Route("/experiments/{key}/recommend", self.recommend, methods=["POST"]),
            Route("/approvals", self.approvals),
            Route("/approvals/{recommendation_id}", self.decide, methods=["POST"]),
            Route("/ask", self.ask, methods=["GET", "POST"]),
            Route("/operations", self.operations),
            Route("/operations/verify", self.verify, methods=["POST"]),
            Route("/operations/rebuild", self.rebuild, methods=["POST"]),
            Route("/live", self.live),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/favicon.ico", lambda _: Response(status_code=204)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        middleware = [
            Middleware(
                SessionMiddleware,
                secret_key=self.access.secret,
                session_cookie="neonblue_session",
                same_site="strict",
                max_age=12 * 3600,
            )
        ]
        return Starlette(
            routes=routes,
            middleware=middleware,
            exception_handlers={HTTPException: self.refused, ClientDisconnect: self.gone},
        )

    async def refused(self, request: Request, error: Exception) -> Response:
        """A refused request (no sign-in, bad CSRF token, bad input) as a page saying why."""
        assert isinstance(error, HTTPException)
        message = error.detail  # Starlette's own refusals, reworded to say what to do
        if error.status_code == 404 and message == "Not Found":
            message = "No page at this address: start from Experiments (/)."
        elif error.status_code == 405:
            message = f"This address does not take {request.method} requests."
        return self.page(request, "error.html", error.status_code, message=message,
                         heading="Refused" if error.status_code in (401, 403) else "Not possible")  # fmt: skip

    async def gone(self, request: Request, error: Exception) -> Response:
        """The client left before its form arrived: nobody reads an answer (no traceback)."""
        return Response(status_code=400)

    # -- rendering ---------------------------------------------------------------------------

    def page(self, request: Request, template: str, code: int = 200, **values: Any) -> Response:
        flash = self.notices.pop(request.query_params.get("notice", ""), None)
        body = self.templates.get_template(template).render(
            request=request,
            csrf=self.access.csrf_token(request),
            signed_in=self.access.signed_in(request),
            token_required=self.access.token is not None,
            flash=flash,
            **values,
        )
        return HTMLResponse(body, status_code=code)

    async def guarded(self, request: Request, build: Callable[[], Any], template: str) -> Response:
        """The page, or the login form; domain and configuration errors as a message."""
        if not self.access.signed_in(request):
            return self.access.login_redirect(request)
        with self.views.busy.serving():
            try:
                values = await anyio.to_thread.run_sync(build)
            except (DomainError, ConfigurationError) as error:
                return self.page(
                    request, "error.html", 404, message=str(error), heading="Not found"
                )
            return self.page(request, template, **values)

    # -- pages ----------------------------------------------------------------------------------

    async def experiments(self, request: Request) -> Response:
        params = request.query_params
        status, tag = params.get("status", "")[:32], params.get("tag", "")[:64]
        query = params.get("q", "").strip()[:200]
        return await self.guarded(
            request, lambda: self.views.experiments(status, tag, query), "experiments.html"
        )

    async def experiment(self, request: Request) -> Response:
        key = request.path_params["key"][:128]
        params = request.query_params
        engine = params.get("engine", self.views.services.engine)
        cuped = params.get("cuped", "on") == "on"
        as_of = _moment(params.get("as_of", ""))
        recorded = params.get("cut") == "recorded"
        return await self.guarded(
            request,
            lambda: self.views.experiment(key, engine, cuped, as_of, recorded),
            "experiment.html",
        )

    async def approvals(self, request: Request) -> Response:
        def build() -> dict[str, Any]:
            return {
                "position": self.views.position(),
                "pending": self.views.recommendations(state="pending"),
                "decided": [r for r in self.views.recommendations() if r.state != "pending"][:20],
            }

        return await self.guarded(request, build, "approvals.html")

    async def operations(self, request: Request) -> Response:
        def build() -> dict[str, Any]:
            return {**self.views.operations(self.follower.statuses()), "rate": self.rate(),
                    "verified": self.verified, "position": self.views.position(),
                    "rebuilds": list(self.follower.rebuilds.values()),
                    "projections": self.follower.names}  # fmt: skip

        return await self.guarded(request, build, "operations.html")

    async def ask(self, request: Request) -> Response:
        if request.method == "GET":
            return await self.guarded(request, lambda: {"question": "", "answer": None}, "ask.html")
        form = await self.access.checked_form(request)
        question = text_field(form, "question", QUESTION_CHARS)
        try:
            answer = await self.read_side.ask_async(question)
        except (DomainError, ConfigurationError) as error:
            answer = {"answer": str(error), "sources": []}
        return self.page(request, "ask.html", question=question, answer=answer)

    async def live(self, request: Request) -> Response:
        if not self.access.signed_in(request):
            return JSONResponse({"error": "sign in"}, status_code=401)
        position, head = await anyio.to_thread.run_sync(
            lambda: (self.views.position(), self.views.head())
        )
        self.heads.append((time.monotonic(), head))
        return JSONResponse({"position": position, "head": head})

    # -- forms that change something ----------------------------------------------------------

    async def decide(self, request: Request) -> Response:
        from agents.intelligence.runner import resume_with_decision

        form = await self.access.checked_form(request)
        recommendation_id = request.path_params["recommendation_id"][:64]
        decision = form.get("decision")
        if decision not in ("approve", "reject"):
            raise HTTPException(422, "decision must be approve or reject.")
        by = text_field(form, "by", 100)
        note = text_field(form, "note", 1000, required=False)
        try:
            state = await resume_with_decision(
                self.read_side.services, recommendation_id, decision == "approve", by, note
            )
        except DomainError as error:
            return self.notice("/approvals", str(error))
        applied = ", ".join(state.get("applied") or []) or "nothing"
        run = "the agent run resumed" if state.get("resumed") else "no run was waiting"
        return self.notice("/approvals", (
            f"Approved by {by} ({run}); applied: {applied}." if decision == "approve"
            else f"Rejected by {by} ({run}); nothing was changed."
        ))  # fmt: skip

    async def recommend(self, request: Request) -> Response:
        await self.access.checked_form(request)
        key = request.path_params["key"][:128]
        try:
            state = await self.read_side.recommend_async(key)
        except DomainError as error:
            return self.notice(f"/experiments/{key}", str(error))
        waiting = " It waits for approval (Approvals)." if state["waiting_for_approval"] else ""
        message = f"{state['proposal']['action'].upper()}: {state['narrative']}{waiting}"
        return self.notice(f"/experiments/{key}", message)

    async def verify(self, request: Request) -> Response:
        from infrastructure.audit.verify import verify_log

        await self.access.checked_form(request)
        started = time.perf_counter()
        report = await anyio.to_thread.run_sync(verify_log, self.read_side.services.app.recorder)
        self.verified = {
            "ok": report.ok,
            "events": report.events,
            "first": str(report.first) if report.first else "",
            "seconds": time.perf_counter() - started,
            "at": datetime.now(UTC),
        }
        return RedirectResponse("/operations", status_code=303)

    async def rebuild(self, request: Request) -> Response:
        form = await self.access.checked_form(request)
        name = text_field(form, "projection", 64)
        try:
            self.follower.rebuild(name)
        except RebuildRefused as error:
            return self.notice("/operations", str(error))
        return self.notice("/operations", f"Rebuilding {name}: progress below.")

    async def login(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self.page(request, "login.html", next=target, failed=False)
        form = await self.access.checked_form(request, login=True)
        token = form.get("token")
        if isinstance(token, str) and self.access.sign_in(request, token[:512]):
            return RedirectResponse(target, status_code=303)
        return self.page(request, "login.html", 401, next=target, failed=True)

    async def logout(self, request: Request) -> Response:
        await self.access.checked_form(request, login=True)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    def rate(self) -> float | None:
        """Events per second appended to the log over the last minute (seen by /live)."""
        recent = [(t, h) for t, h in self.heads if t >= time.monotonic() - 60]
        if len(recent) < 2 or recent[-1][0] == recent[0][0]:
            return None
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])


def _moment(text: str) -> datetime | None:
    """``YYYY-MM-DDTHH:MM`` (the browser's datetime-local, taken as UTC) or None."""
    if not text:
        return None
    try:
        moment_ = datetime.fromisoformat(text[:32])
    except ValueError:
        raise HTTPException(422, "as_of must look like 2026-09-15T12:00.") from None
    return moment_ if moment_.tzinfo else moment_.replace(tzinfo=UTC)
