"""Evidence is sealed before anything leaves: the check referral approval runs.

A referral may be approved only when sealed captures hold every account and post it lists.
``ensure_sealed`` captures and seals what is missing (the referral's accounts, with their
posts) so approval does the right thing by default; ``sealed_evidence`` is the check itself,
run inside the approval's transaction, which refuses when anything is not covered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, select

from tidewatch.errors import Conflict
from tidewatch.store import tables as t
from tidewatch.store.users import Actor


def _subjects(conn: Connection, referral_id: int) -> set[str]:
    subjects: set[str] = set()
    for item in conn.execute(
        select(t.referral_items.c.account_id, t.referral_items.c.post_id).where(
            t.referral_items.c.referral_id == referral_id
        )
    ):
        if item.account_id is not None:
            subjects.add(f"account:{item.account_id}")
        if item.post_id is not None:
            subjects.add(f"post:{item.post_id}")
    return subjects


def _covering(conn: Connection, subjects: set[str]) -> dict[str, tuple[int, str, str]]:
    """subject -> (capture id, manifest sha256, key fingerprint) of the latest sealed capture
    holding it."""
    rows = conn.execute(
        select(
            t.artifacts.c.subject,
            t.captures.c.id,
            t.captures.c.manifest_sha256,
            t.captures.c.key_fingerprint,
        )
        .join(t.captures, t.captures.c.id == t.artifacts.c.capture_id)
        .where(t.captures.c.status == "sealed", t.artifacts.c.subject.in_(sorted(subjects)))
        .order_by(t.captures.c.id)
    )
    return {row.subject: (row.id, row.manifest_sha256, row.key_fingerprint) for row in rows}


def sealed_evidence(conn: Connection, referral_id: int) -> list[dict[str, Any]]:
    """The sealed captures that hold every item of the referral (its evidence references);
    raises Conflict naming what is not sealed."""
    subjects = _subjects(conn, referral_id)
    covered = _covering(conn, subjects)
    missing = sorted(subjects - set(covered))
    if missing:
        raise Conflict(
            f"evidence is not sealed for {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            + ": capture and seal it before the referral can be approved"
        )
    captures = {value for value in covered.values()}
    return [
        {"capture_id": capture_id, "manifest_sha256": digest, "key_fingerprint": fingerprint}
        for capture_id, digest, fingerprint in sorted(captures)
    ]


def ensure_sealed(
    engine: Engine, actor: Actor, referral_id: int, *, signing_key: Any = None
) -> int | None:
    """Capture and seal the referral's accounts (with their posts) if some item is not yet in
    a sealed capture; returns the new capture's id, or None when all was sealed already."""
    from tidewatch.evidence.capture import capture_accounts

    with engine.connect() as conn:
        subjects = _subjects(conn, referral_id)
        if not subjects - set(_covering(conn, subjects)):
            return None
        referral = conn.execute(
            select(t.referrals.c.case_id, t.referrals.c.public_id).where(
                t.referrals.c.id == referral_id
            )
        ).one()
        account_ids = set(
            conn.execute(
                select(t.referral_items.c.account_id).where(
                    t.referral_items.c.referral_id == referral_id,
                    t.referral_items.c.account_id.is_not(None),
                )
            ).scalars()
        )
        account_ids |= set(
            conn.execute(
                select(t.accounts.c.id)
                .join(
                    t.posts,
                    (t.posts.c.platform == t.accounts.c.platform)
                    & (t.posts.c.account_native_id == t.accounts.c.native_id),
                )
                .join(t.referral_items, t.referral_items.c.post_id == t.posts.c.id)
                .where(t.referral_items.c.referral_id == referral_id)
            ).scalars()
        )
    return capture_accounts(
        engine,
        actor,
        sorted(account_ids),
        case_id=referral.case_id,
        title=f"evidence for referral {referral.public_id}",
        signing_key=signing_key,
    )
