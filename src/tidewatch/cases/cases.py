"""Cases: the accounts (usually one network) that one investigation and its referrals are
about, with the analysts' notes. Decisions reach a case through its review items; evidence
through its captures (see ``tidewatch.evidence``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from tidewatch.errors import Conflict, NotFound
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.networks import latest_link_run
from tidewatch.store.users import Actor, Role


@dataclass(frozen=True)
class CaseAccount:
    id: int
    platform: str
    native_id: str
    handle: str
    url: str


@dataclass(frozen=True)
class Case:
    id: int
    title: str
    status: str
    network_id: str | None
    created_by: str
    created_at: datetime
    accounts: list[CaseAccount]
    notes: list[dict[str, Any]]


def open_case(
    engine: Engine,
    actor: Actor,
    title: str,
    *,
    accounts: Sequence[tuple[str, str]] = (),
    network_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """A new case holding ``accounts`` ((platform, native id) pairs) and, with ``network_id``,
    every account of that network in the latest link run."""
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    if not title.strip():
        raise ValueError("a case needs a title")
    keys: list[tuple[str, str]] = list(accounts)
    if network_id:
        run = latest_link_run(engine)
        network = next((n for n in (run or {}).get("networks", []) if n["id"] == network_id), None)
        if network is None:
            raise NotFound(f"no network {network_id!r} in the latest link run")
        for key in network["accounts"]:
            platform, _, native_id = key.partition(":")
            keys.append((platform, native_id))
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        case_id = conn.execute(
            insert(t.cases).values(
                title=title.strip(),
                network_id=network_id,
                status="open",
                created_by=actor.username,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        audit.record(
            conn,
            actor=actor.username,
            action="case.open",
            entity="case",
            entity_id=case_id,
            after={"title": title.strip(), "network_id": network_id},
            at=now,
        )
        _add(conn, actor, int(case_id), keys, now)
    return int(case_id)


def add_accounts(
    engine: Engine, actor: Actor, case_id: int, accounts: list[tuple[str, str]]
) -> int:
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    with engine.begin() as conn:
        _require_open(conn, case_id)
        return _add(conn, actor, case_id, accounts, datetime.now(UTC))


def _add(
    conn: Connection, actor: Actor, case_id: int, keys: list[tuple[str, str]], now: datetime
) -> int:
    present = set(
        conn.execute(
            select(t.case_accounts.c.account_id).where(t.case_accounts.c.case_id == case_id)
        ).scalars()
    )
    added = []
    for platform, native_id in dict.fromkeys(keys):
        account_id = conn.execute(
            select(t.accounts.c.id).where(
                t.accounts.c.platform == platform, t.accounts.c.native_id == native_id
            )
        ).scalar()
        if account_id is None:
            raise NotFound(f"no account {platform}:{native_id} in the database")
        if account_id in present:
            continue
        present.add(account_id)
        added.append(
            {
                "case_id": case_id,
                "account_id": account_id,
                "added_by": actor.username,
                "added_at": now,
            }
        )
    if added:
        conn.execute(insert(t.case_accounts), added)
        audit.record(
            conn,
            actor=actor.username,
            action="case.add_accounts",
            entity="case",
            entity_id=case_id,
            after={"account_ids": [row["account_id"] for row in added]},
        )
    return len(added)


def add_note(engine: Engine, actor: Actor, case_id: int, body: str) -> None:
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    if not body.strip():
        raise ValueError("an empty note adds nothing")
    with engine.begin() as conn:
        _require_open(conn, case_id)
        note_id = conn.execute(
            insert(t.case_notes).values(
                case_id=case_id, author=actor.username, body=body, created_at=datetime.now(UTC)
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        audit.record(
            conn,
            actor=actor.username,
            action="case.note",
            entity="case",
            entity_id=case_id,
            after={"note_id": note_id},
        )


def link_review_item(engine: Engine, actor: Actor, case_id: int, item_id: int) -> None:
    """Attach a decided review item (and so its decision) to the case."""
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    with engine.begin() as conn:
        _require_open(conn, case_id)
        done = conn.execute(
            update(t.review_items).where(t.review_items.c.id == item_id).values(case_id=case_id)
        ).rowcount
        if not done:
            raise NotFound(f"no review item {item_id}")
        audit.record(
            conn,
            actor=actor.username,
            action="case.link_item",
            entity="case",
            entity_id=case_id,
            after={"review_item": item_id},
        )


def close_case(engine: Engine, actor: Actor, case_id: int) -> None:
    actor.require(Role.SUPERVISOR)
    with engine.begin() as conn:
        _require_open(conn, case_id)
        conn.execute(
            update(t.cases)
            .where(t.cases.c.id == case_id)
            .values(status="closed", updated_at=datetime.now(UTC))
        )
        audit.record(
            conn,
            actor=actor.username,
            action="case.close",
            entity="case",
            entity_id=case_id,
            before={"status": "open"},
            after={"status": "closed"},
        )


def _require_open(conn: Connection, case_id: int) -> None:
    status = conn.execute(select(t.cases.c.status).where(t.cases.c.id == case_id)).scalar()
    if status is None:
        raise NotFound(f"no case {case_id}")
    if status != "open":
        raise Conflict(f"case {case_id} is {status}")


def get_case(conn: Connection, case_id: int) -> Case:
    row = conn.execute(select(t.cases).where(t.cases.c.id == case_id)).first()
    if row is None:
        raise NotFound(f"no case {case_id}")
    accounts = [
        CaseAccount(a.id, a.platform, a.native_id, a.handle or "", a.url or "")
        for a in conn.execute(
            select(t.accounts)
            .join(t.case_accounts, t.case_accounts.c.account_id == t.accounts.c.id)
            .where(t.case_accounts.c.case_id == case_id)
            .order_by(t.accounts.c.platform, t.accounts.c.native_id)
        )
    ]
    notes = [
        {"author": n.author, "body": n.body, "created_at": n.created_at}
        for n in conn.execute(
            select(t.case_notes)
            .where(t.case_notes.c.case_id == case_id)
            .order_by(t.case_notes.c.id)
        )
    ]
    return Case(
        row.id,
        row.title,
        row.status,
        row.network_id,
        row.created_by,
        row.created_at,
        accounts,
        notes,
    )
