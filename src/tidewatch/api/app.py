"""The HTTP application: the partner API (``/partner/v1``) and the unit API (``/api/v1``).

Every answer is JSON (labels: JSON Lines) sent with ``nosniff`` and ``no-store``: text from
posts and platforms is data, never markup a browser could run, and nothing is cached.
Service errors map to statuses here, once: NotFound 404, PermissionDenied 403, Conflict 409,
ValueError (and bad settings) 422 in FastAPI's own validation-error shape.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidewatch import __version__
from tidewatch.errors import ConfigError, Conflict, NotFound, PermissionDenied

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]


class SecurityHeaders:
    """Plain ASGI (not BaseHTTPMiddleware): adds the headers without buffering responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _detail(status: int, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=status)


def _unprocessable(error: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": ["body"], "msg": str(error), "type": "value_error"}]},
        status_code=422,
    )


def create_app(engine: Engine) -> FastAPI:
    """The application over ``engine`` (already migrated)."""
    from tidewatch.api import partner, unit

    app = FastAPI(
        title="Tidewatch",
        version=__version__,
        description=(
            "The partner API is a platform's side of the two-way referral channel: a partner "
            "key sees only the referrals delivered to its own platform. The unit API serves "
            "the unit's analysts, supervisors and auditors."
        ),
    )
    app.state.engine = engine
    app.include_router(partner.router)
    app.include_router(unit.router)

    async def not_found(_request: Request, error: Exception) -> JSONResponse:
        return _detail(404, error)

    async def denied(_request: Request, error: Exception) -> JSONResponse:
        return _detail(403, error)

    async def conflict(_request: Request, error: Exception) -> JSONResponse:
        return _detail(409, error)

    async def invalid(_request: Request, error: Exception) -> JSONResponse:
        return _unprocessable(error)

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(PermissionDenied, denied)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(ValueError, invalid)
    app.add_exception_handler(ConfigError, invalid)
    app.add_middleware(SecurityHeaders)
    return app


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` (each worker process builds its own engine); the database
    is named by ``TIDEWATCH_DATABASE_URL`` and must already be migrated (``tidewatch serve``
    migrates before it starts the workers)."""
    from tidewatch.settings import get_settings
    from tidewatch.store import make_engine

    url = os.environ.get("TIDEWATCH_DATABASE_URL") or get_settings().resolved_database_url()
    return create_app(make_engine(url, **pool_options(url)))


def pool_options(url: str) -> dict[str, Any]:
    """Enough connections for the server's worker threads (40 by default) to wait on the
    database, not on the pool."""
    if url.startswith("sqlite"):
        return {}
    return {"pool_size": 10, "max_overflow": 15, "pool_timeout": 30}
