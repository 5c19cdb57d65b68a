"""People and keys: unit users with roles, and API keys (a partner key speaks for one platform,
a unit key acts as one user). Secrets are shown once and stored only as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from tidewatch.errors import ConfigError, NotFound, PermissionDenied
from tidewatch.model import Recipient
from tidewatch.store import audit
from tidewatch.store import tables as t


class Role(StrEnum):
    ANALYST = "analyst"
    SUPERVISOR = "supervisor"
    LIAISON = "liaison"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    """Whoever acts: a unit user, a platform liaison (of one recipient: "meta" covers Facebook
    and Instagram) or the system itself."""

    username: str
    role: Role
    platform: str | None = None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise PermissionDenied(f"{self.username} is {self.role.value}; this needs {allowed}")


SYSTEM = Actor("system", Role.ADMIN)


def create_user(
    conn: Connection,
    username: str,
    role: Role | str,
    *,
    platform: str | None = None,
    display_name: str = "",
    password_hash: str | None = None,
    by: Actor = SYSTEM,
) -> Actor:
    role = Role(role)
    if role is Role.LIAISON:
        if platform is None:
            raise ConfigError(f"liaison {username!r} needs the one platform it speaks for")
        platform = Recipient(platform).value
    elif platform is not None:
        raise ConfigError(f"only liaisons belong to a platform, not {role.value} {username!r}")
    conn.execute(
        insert(t.users).values(
            username=username,
            display_name=display_name or username,
            role=role.value,
            platform=platform,
            password_hash=password_hash,
            active=True,
            created_at=datetime.now(UTC),
        )
    )
    audit.record(
        conn,
        actor=by.username,
        action="user.create",
        entity="user",
        entity_id=username,
        after={"role": role.value, "platform": platform},
    )
    return Actor(username, role, platform)


def get_actor(conn: Connection, username: str) -> Actor:
    row = conn.execute(select(t.users).where(t.users.c.username == username)).first()
    if row is None or not row.active:
        raise NotFound(f"no active user {username!r}")
    return Actor(row.username, Role(row.role), row.platform)


@dataclass(frozen=True)
class KeyIdentity:
    key_id: str
    scope: str  # partner | unit
    platform: str | None
    actor: Actor


def create_api_key(
    conn: Connection,
    *,
    scope: str,
    platform: str | None = None,
    username: str | None = None,
    label: str = "",
    by: Actor = SYSTEM,
) -> str:
    """A new key, returned once in full ("tw_<id>_<secret>"); only its hash is stored."""
    if scope == "partner":
        if platform is None or username is not None:
            raise ConfigError("a partner key names one platform and no user")
        platform = Recipient(platform).value
    elif scope == "unit":
        if username is None or platform is not None:
            raise ConfigError("a unit key names one user and no platform")
        get_actor(conn, username)
    else:
        raise ConfigError(f"key scope must be 'partner' or 'unit', not {scope!r}")
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    conn.execute(
        insert(t.api_keys).values(
            key_id=key_id,
            secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
            scope=scope,
            platform=platform,
            username=username,
            label=label,
            created_by=by.username,
            created_at=datetime.now(UTC),
        )
    )
    audit.record(
        conn,
        actor=by.username,
        action="api_key.create",
        entity="api_key",
        entity_id=key_id,
        after={"scope": scope, "platform": platform, "username": username, "label": label},
    )
    return f"tw_{key_id}_{secret}"


def authenticate_key(conn: Connection, key: str) -> KeyIdentity | None:
    """The identity behind ``key``, or None for a malformed, unknown, wrong or revoked key."""
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != "tw" or not key_id or not secret:
        return None
    row = conn.execute(select(t.api_keys).where(t.api_keys.c.key_id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    given = hashlib.sha256(secret.encode()).hexdigest()
    if not hmac.compare_digest(given, row.secret_sha256):
        return None
    if row.scope == "partner":
        actor = Actor(f"{row.platform}-partner:{row.key_id}", Role.LIAISON, row.platform)
    else:
        try:
            actor = get_actor(conn, row.username)
        except NotFound:
            return None
    return KeyIdentity(row.key_id, row.scope, row.platform, actor)


def revoke_api_key(conn: Connection, key_id: str, *, by: Actor = SYSTEM) -> None:
    done = conn.execute(
        update(t.api_keys)
        .where(t.api_keys.c.key_id == key_id, t.api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    ).rowcount
    if not done:
        raise NotFound(f"no active key {key_id!r}")
    audit.record(
        conn, actor=by.username, action="api_key.revoke", entity="api_key", entity_id=key_id
    )
