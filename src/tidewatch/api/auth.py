"""Bearer keys. A partner key speaks for one recipient (platform) and opens only the partner
API; a unit key acts as one unit user and opens only the unit API. A missing key is a 401;
a malformed, unknown or revoked one another 401, the same for all three (nothing says which);
a good key of the wrong kind is a 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from tidewatch.store.users import Actor, KeyIdentity, Role, authenticate_key

partner_scheme = HTTPBearer(
    scheme_name="PartnerKey",
    description="A partner key (tw_<id>_<secret>) issued to one platform",
    auto_error=False,
)
unit_scheme = HTTPBearer(
    scheme_name="UnitKey",
    description="A unit key (tw_<id>_<secret>) that acts as one unit user",
    auto_error=False,
)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _missing(realm: str) -> HTTPException:
    return HTTPException(
        401, "an API key is required", headers={"WWW-Authenticate": f'Bearer realm="{realm}"'}
    )


def _invalid(realm: str) -> HTTPException:
    return HTTPException(
        401,
        "the API key is not valid (unknown, malformed or revoked)",
        headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'},
    )


def _key(credentials: HTTPAuthorizationCredentials | None, realm: str) -> str:
    """The key from the header, refused before any database work when absent or malformed."""
    if credentials is None or not credentials.credentials:
        raise _missing(realm)
    key = credentials.credentials
    if len(key) > 200 or not key.isascii() or not key.isprintable() or not key.startswith("tw_"):
        raise _invalid(realm)
    return key


def _identity(conn: Connection, key: str, realm: str) -> KeyIdentity:
    identity = authenticate_key(conn, key)
    if identity is None:
        raise _invalid(realm)
    return identity


PARTNER_REALM = "tidewatch-partner"


async def partner_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(partner_scheme)],
) -> str:
    # async: no I/O here, so no hop to a worker thread just to read a header.
    return _key(credentials, PARTNER_REALM)


def partner_identity(conn: Connection, key: str) -> KeyIdentity:
    """The partner behind ``key``, checked on the connection the request then uses (one
    connection per request)."""
    identity = _identity(conn, key, PARTNER_REALM)
    if identity.scope != "partner" or identity.platform is None:
        raise HTTPException(
            403,
            "this is a unit key; the partner API needs a partner key",
            headers={
                "WWW-Authenticate": f'Bearer realm="{PARTNER_REALM}", error="insufficient_scope"'
            },
        )
    return identity


def unit(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(unit_scheme)],
) -> Actor:
    realm = "tidewatch-unit"
    key = _key(credentials, realm)
    with engine_of(request).connect() as conn:
        identity = _identity(conn, key, realm)
    if identity.scope != "unit" or identity.actor.role is Role.LIAISON:
        raise HTTPException(
            403,
            "the unit API needs a unit user's key",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="insufficient_scope"'},
        )
    return identity.actor


PartnerKey = Annotated[str, Depends(partner_key)]
UnitActor = Annotated[Actor, Depends(unit)]


def require_reader(actor: Actor) -> None:
    """Reading the unit's records: anyone in the unit (auditors included)."""
    actor.require(Role.ANALYST, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
