"""The console application: pages for the unit and the partner portal, with the JSON API
mounted underneath (``/partner/v1``, ``/api/v1``), served by one ``tidewatch serve``.

Every page is rendered from hostile text (posts, names, links, platform messages): Jinja2
escapes everything, right-to-left text is marked ``dir="auto"``, links are shown as text
(never as ``href``), and the Content-Security-Policy allows scripts, styles and requests from
this origin only, with no inline script at all, so an injected tag has nothing to run.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidewatch.errors import Conflict, NotFound, PermissionDenied
from tidewatch.web import auth

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts.
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class LoginRequired(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


class ConsoleHeaders:
    """Security headers on console pages (plain ASGI, no buffering), and a Server-Timing
    header with the time the page took to start answering. API responses keep the API's
    own, stricter headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(("/partner/", "/api/")):
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                timing = (b"server-timing", f"app;dur={took:.1f}".encode())
                message["headers"] = [*message.get("headers", []), *HEADERS, timing]
            await send(message)

        await self.app(scope, receive, with_headers)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    html = templates.get_template(name).render(request=request, session=session, **context)
    return HTMLResponse(html, status_code=status_code)


def create_app(engine: Engine) -> FastAPI:
    """The console over ``engine`` (already migrated), with the API mounted under it."""
    from tidewatch.api import create_app as create_api
    from tidewatch.web import pages, portal

    app = FastAPI(title="Tidewatch console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    app.include_router(pages.router)
    app.include_router(portal.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    async def login_required(request: Request, error: Exception) -> Response:
        assert isinstance(error, LoginRequired)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={quote(error.path, safe='/')}", status_code=303)

    async def not_found(request: Request, error: Exception) -> Response:
        return render(request, "error.html", 404, title="Not found", message=str(error))

    async def denied(request: Request, error: Exception) -> Response:
        return render(request, "error.html", 403, title="Not allowed", message=str(error))

    async def conflict(request: Request, error: Exception) -> Response:
        return render(request, "error.html", 409, title="Cannot do that now", message=str(error))

    async def invalid(request: Request, error: Exception) -> Response:
        return render(request, "error.html", 422, title="Check the input", message=str(error))

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(PermissionDenied, denied)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(ValueError, invalid)
    app.add_middleware(ConsoleHeaders)
    # Last: everything the console does not answer goes to the JSON API, unchanged.
    app.mount("/", create_api(engine))
    return app


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def current_session(request: Request) -> auth.Session:
    session = auth.session_for(engine_of(request), request.cookies.get(auth.COOKIE))
    if session is None:
        raise LoginRequired(request.url.path)
    request.state.session = session
    return session


async def check_csrf(request: Request, session: auth.Session) -> dict[str, str]:
    """The submitted form, once its CSRF token (and Origin, when sent) are checked."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise PermissionDenied("cross-site request refused")
    if not auth.csrf_ok(session, request.headers.get("x-csrf-token") or form.get("csrf")):
        raise PermissionDenied("the form has expired: reload the page and try again")
    return form


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory``: each worker builds its own engine from
    ``TIDEWATCH_DATABASE_URL`` (``tidewatch serve`` migrates before workers start)."""
    import os

    from tidewatch.api.app import pool_options
    from tidewatch.settings import get_settings
    from tidewatch.store import make_engine

    url = os.environ.get("TIDEWATCH_DATABASE_URL") or get_settings().resolved_database_url()
    return create_app(make_engine(url, **pool_options(url)))
