"""Sign-in for the console: argon2 password hashes, server-side sessions, CSRF tokens and a
login rate limit.

* A session is a random cookie value; only its SHA-256 is stored, so a copy of the database
  holds no usable session. Sessions end after 30 idle minutes or 12 hours, and at sign-out.
* Every state-changing request carries the session's CSRF token (a form field, or the
  ``X-CSRF-Token`` header HTMX sends) and, when the browser sends one, a same-origin
  ``Origin``; the cookie is HttpOnly and SameSite=Strict besides.
* Five failed sign-ins for one username, or twenty from one client, within 15 minutes
  lock further attempts out for the rest of the window (a wrong password and an unknown
  user take the same time and give the same answer).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, func, insert, select, update

from tidewatch.errors import NotFound, TidewatchError
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, get_actor

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)
WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20
COOKIE = "tidewatch_session"

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the time the same.
_DUMMY_HASH = _hasher.hash("not a real password")


class LoginRefused(TidewatchError):
    """Wrong username or password (never says which)."""


class TooManyAttempts(TidewatchError):
    """Locked out for the rest of the rate-limit window."""


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    return _hasher.hash(password)


def set_password(conn: Connection, username: str, password: str, *, by: str = "system") -> None:
    done = conn.execute(
        update(t.users)
        .where(t.users.c.username == username)
        .values(password_hash=hash_password(password))
    ).rowcount
    if not done:
        raise NotFound(f"no user {username!r}")
    audit.record(conn, actor=by, action="user.set_password", entity="user", entity_id=username)


@dataclass(frozen=True)
class Session:
    actor: Actor
    csrf: str
    expires_at: datetime


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def login(
    engine: Engine, username: str, password: str, client: str, *, now: datetime | None = None
) -> str:
    """A new session's cookie value, or LoginRefused / TooManyAttempts."""
    now = now or datetime.now(UTC)
    username = username.strip()[:80]
    client = client[:64]
    with engine.begin() as conn:
        since = now - WINDOW
        failures_user = conn.execute(
            select(func.count())
            .select_from(t.login_attempts)
            .where(
                t.login_attempts.c.username == username,
                t.login_attempts.c.at >= since,
                t.login_attempts.c.ok.is_(False),
            )
        ).scalar_one()
        failures_client = conn.execute(
            select(func.count())
            .select_from(t.login_attempts)
            .where(
                t.login_attempts.c.client == client,
                t.login_attempts.c.at >= since,
                t.login_attempts.c.ok.is_(False),
            )
        ).scalar_one()
        if failures_user >= MAX_FAILURES_PER_USER or failures_client >= MAX_FAILURES_PER_CLIENT:
            raise TooManyAttempts("too many failed sign-ins: try again in 15 minutes")
        row = conn.execute(select(t.users).where(t.users.c.username == username)).first()
        stored = (
            row.password_hash
            if row is not None and row.active and row.password_hash
            else _DUMMY_HASH
        )
        try:
            ok = _hasher.verify(stored, password) and stored is not _DUMMY_HASH
        except (VerificationError, InvalidHashError):
            ok = False
        conn.execute(
            insert(t.login_attempts).values(username=username, client=client, at=now, ok=ok)
        )
        if not ok:
            audit.record(
                conn,
                actor=username or "-",
                action="login.failed",
                entity="user",
                entity_id=username or "-",
                after={"client": client},
                at=now,
            )
    if not ok:
        raise LoginRefused("wrong username or password")
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            insert(t.web_sessions).values(
                token_sha256=_sha(token),
                username=username,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + LIFETIME,
            )
        )
        audit.record(
            conn,
            actor=username,
            action="login",
            entity="user",
            entity_id=username,
            after={"client": client},
            at=now,
        )
    return token


def session_for(
    engine: Engine, token: str | None, *, now: datetime | None = None
) -> Session | None:
    if not token:
        return None
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(
            select(t.web_sessions).where(t.web_sessions.c.token_sha256 == _sha(token))
        ).first()
        if (
            row is None
            or row.revoked_at is not None
            or row.expires_at <= now
            or row.last_seen_at + IDLE <= now
        ):
            return None
        try:
            actor = get_actor(conn, row.username)
        except NotFound:
            return None
        if now - row.last_seen_at > timedelta(minutes=1):
            conn.execute(
                update(t.web_sessions).where(t.web_sessions.c.id == row.id).values(last_seen_at=now)
            )
    return Session(actor, row.csrf_token, row.expires_at)


def logout(engine: Engine, token: str | None) -> None:
    if not token:
        return
    with engine.begin() as conn:
        row = conn.execute(
            select(t.web_sessions).where(t.web_sessions.c.token_sha256 == _sha(token))
        ).first()
        if row is None or row.revoked_at is not None:
            return
        conn.execute(
            update(t.web_sessions)
            .where(t.web_sessions.c.id == row.id)
            .values(revoked_at=datetime.now(UTC))
        )
        audit.record(
            conn, actor=row.username, action="logout", entity="user", entity_id=row.username
        )


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf, given or "")
