"""Who may use the dashboard, and forms that only the dashboard's own pages can submit.

With no token configured (serve refuses that unless bound to loopback) pages are open.
With a token (the one MCP clients send as a bearer token), a person signs in once with it
on /login and gets a signed session cookie (Starlette's SessionMiddleware, itsdangerous).
Every form that changes something carries the session's CSRF token; a POST whose token
does not match is refused with 403 before anything runs.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Message, Receive

from infrastructure.controls import pattern

FORM_BYTES = 32 * 1024
NEXT_CHARS = 2048
# C0/C1 controls but tab and newlines, and the bidi embeddings, overrides and isolates
CONTROLS = pattern(keep="\t\n\r")


class Access:
    def __init__(self, token: str | None) -> None:
        self.token = token
        self.secret = secrets.token_urlsafe(32)  # sessions end when serve restarts

    def signed_in(self, request: Request) -> bool:
        return self.token is None or request.session.get("signed_in") is True

    def sign_in(self, request: Request, supplied: str) -> bool:
        if self.token is None:
            return True
        if not hmac.compare_digest(supplied.encode(), self.token.encode()):
            return False
        request.session.clear()
        request.session["signed_in"] = True
        request.session["csrf"] = secrets.token_urlsafe(32)
        return True

    def login_redirect(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(safe_next(target))}", status_code=303)

    @staticmethod
    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    async def checked_form(self, request: Request, login: bool = False) -> FormData:
        """The POSTed form, after the sign-in (unless ``login``) and CSRF checks."""
        if not login and not self.signed_in(request):
            raise HTTPException(401, "Sign in first (/login).")
        length = int(request.headers.get("content-length") or 0)
        if length > FORM_BYTES:
            raise HTTPException(413, f"Form over {FORM_BYTES} bytes.")
        # a chunked body says no length up front: counted as it arrives
        bounded = Request(request.scope, _bounded(request.receive, FORM_BYTES))
        form = await bounded.form(max_files=0, max_fields=20)
        supplied = form.get("csrf")
        expected = request.session.get("csrf")
        if not (isinstance(supplied, str) and isinstance(expected, str)) or not hmac.compare_digest(
            supplied.encode(), expected.encode()
        ):
            raise HTTPException(403, "Invalid or missing CSRF token: reload the page and retry.")
        return form


def _bounded(receive: Receive, limit: int) -> Receive:
    """``receive`` refusing a body over ``limit`` bytes."""
    size = 0

    async def bounded() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > limit:
            raise HTTPException(413, f"Form over {limit} bytes.")
        return message

    return bounded


def safe_next(target: Any) -> str:
    """A local path to return to after signing in (never another site, nor one the login
    page would have to quote at length)."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and len(target) <= NEXT_CHARS
        and target.isprintable()
    ):
        return target
    return "/"


def text_field(form: FormData, name: str, limit: int, required: bool = True) -> str:
    """A bounded form field; control characters are refused (a name or note is kept in the
    event store and shown by the CLI, where they would drive the terminal)."""
    value = form.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if (required and not value) or len(value) > limit:
        raise HTTPException(422, f"{name} must be 1 to {limit} characters.")
    if CONTROLS.search(value):
        raise HTTPException(422, f"{name} must not contain control characters.")
    return value


def visible(value: Any) -> Any:
    """``value`` as a page shows it: control characters (`CONTROLS`) spelled as escapes."""
    if isinstance(value, str) and not hasattr(value, "__html__") and CONTROLS.search(value):
        return CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return value
