"""Link runs in the database: each `tidewatch link` stores its networks, account risk and
re-emergence flags as one run, with an index of which account is in which network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from tidewatch.store import tables as t


def save_link_run(
    engine: Engine, document: dict[str, Any], membership: list[tuple[str, str, str]]
) -> int:
    """Store one run; ``membership`` is (network id, platform, native id). Returns the run id."""
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(t.link_runs).values(
                built_at=datetime.now(UTC),
                model_version=str(document.get("model_version", "")),
                networks=len(document.get("networks", [])),
                document=document,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        if membership:
            conn.execute(
                insert(t.network_accounts),
                [
                    {"run_id": run_id, "network_id": n, "platform": p, "native_id": a}
                    for n, p, a in membership
                ],
            )
    return int(run_id)


def latest_link_run(engine: Engine) -> dict[str, Any] | None:
    """The last run's document, with each network's referred and removed account counts as
    they stand now (referrals and re-checks move on after the run was built)."""
    with engine.connect() as conn:
        row = conn.execute(select(t.link_runs).order_by(t.link_runs.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        outcomes = network_outcomes(conn, row.id)
    document = {"run_id": row.id, "built_at": row.built_at.isoformat(), **row.document}
    for network in document.get("networks", []):
        network["referred"], network["removed"] = outcomes.get(network["id"], (0, 0))
    return document


#: Referral statuses from which an account counts as referred (it reached the platform).
_REFERRED = (
    "sent",
    "acknowledged",
    "more_info_requested",
    "removed",
    "restricted",
    "geo_blocked",
    "no_violation",
    "expired",
)


def network_outcomes(conn: Connection, run_id: int) -> dict[str, tuple[int, int]]:
    """network id -> (accounts referred, accounts removed). An account counts as removed when
    a platform reported it removed or an independent re-check found it gone."""
    members = t.network_accounts
    items = t.referral_items
    referred_accounts = (
        select(
            members.c.network_id,
            t.accounts.c.id.label("account_id"),
            items.c.id.label("item_id"),
            items.c.status,
        )
        .join(
            t.accounts,
            (t.accounts.c.platform == members.c.platform)
            & (t.accounts.c.native_id == members.c.native_id),
        )
        .join(items, items.c.account_id == t.accounts.c.id)
        .join(t.referrals, t.referrals.c.id == items.c.referral_id)
        .where(
            members.c.run_id == run_id,
            t.referrals.c.direction == "outbound",
            t.referrals.c.status.in_(_REFERRED),
        )
    )
    gone_items = set(
        conn.execute(
            select(t.rechecks.c.item_id).where(t.rechecks.c.state.in_(("not_found", "suspended")))
        ).scalars()
    )
    referred: dict[str, set[int]] = {}
    removed: dict[str, set[int]] = {}
    for row in conn.execute(referred_accounts):
        referred.setdefault(row.network_id, set()).add(row.account_id)
        if row.status == "removed" or row.item_id in gone_items:
            removed.setdefault(row.network_id, set()).add(row.account_id)
    return {
        network: (len(accounts), len(removed.get(network, ())))
        for network, accounts in referred.items()
    }
