"""Bearer keys. A partner key speaks for one recipient (platform) and opens only the partner
API; a unit key acts as one unit user and opens only the unit API. A missing, malformed,
unknown or revoked key is a 401 (the same answer for each); a good key of the wrong kind a 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

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


def _identity(
    request: Request, credentials: HTTPAuthorizationCredentials | None, realm: str
) -> KeyIdentity:
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            401, "an API key is required", headers={"WWW-Authenticate": f'Bearer realm="{realm}"'}
        )
    # A header can carry anything; only a well-formed key reaches the database.
    key = credentials.credentials
    identity = None
    if len(key) <= 200 and key.isascii() and key.isprintable():
        with engine_of(request).connect() as conn:
            identity = authenticate_key(conn, key)
    if identity is None:
        raise HTTPException(
            401,
            "the API key is not valid (unknown, malformed or revoked)",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'},
        )
    return identity


def partner(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(partner_scheme)],
) -> KeyIdentity:
    identity = _identity(request, credentials, "tidewatch-partner")
    if identity.scope != "partner" or identity.platform is None:
        raise HTTPException(
            403,
            "this is a unit key; the partner API needs a partner key",
            headers={
                "WWW-Authenticate": 'Bearer realm="tidewatch-partner", error="insufficient_scope"'
            },
        )
    return identity


def unit(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(unit_scheme)],
) -> Actor:
    identity = _identity(request, credentials, "tidewatch-unit")
    if identity.scope != "unit" or identity.actor.role is Role.LIAISON:
        raise HTTPException(
            403,
            "the unit API needs a unit user's key",
            headers={
                "WWW-Authenticate": 'Bearer realm="tidewatch-unit", error="insufficient_scope"'
            },
        )
    return identity.actor


PartnerIdentity = Annotated[KeyIdentity, Depends(partner)]
UnitActor = Annotated[Actor, Depends(unit)]


def require_reader(actor: Actor) -> None:
    """Reading the unit's records: anyone in the unit (auditors included)."""
    actor.require(Role.ANALYST, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
