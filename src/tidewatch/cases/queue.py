"""The review queue: what the detector and the link stage found, in the order analysts should
look at it, with claims so that two analysts never work the same item.

Items enter by :func:`refresh`: every post whose latest detection scores at or above the
threshold, and every account whose risk (from the latest link run) does. One item per post or
account, however often it is refreshed; a decided item stays decided.

Priority (highest first) is a weighted sum of factors, each scaled to 0..1 and kept on the item
so the console can show why it is where it is:

====================  ======  ===============================================================
factor                weight  scaled as
====================  ======  ===============================================================
``score``             0.40    the detection score, or the account's risk
``reach``             0.15    log10(1 + views, else likes + shares, else followers) / 6
``network``           0.15    log2(size of the account's network) / 5; 0 for a lone account
``recency``           0.15    exp(-age in days / 14), from the post's time (an account's latest)
``reemergence``       0.15    1 when the account reuses a removed account's selectors
====================  ======  ===============================================================

A claim is a lease: it expires (default 15 minutes) so an item a reviewer walked away from goes
back into the queue. Claiming is one conditional UPDATE (``... WHERE status is open or the claim
has lapsed``), which both databases run atomically: of two analysts racing for an item, exactly
one gets it and the other moves on to the next.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from tidewatch.errors import Conflict, NotFound
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.networks import latest_link_run
from tidewatch.store.users import Actor, Role

WEIGHTS = {"score": 0.40, "reach": 0.15, "network": 0.15, "recency": 0.15, "reemergence": 0.15}
DEFAULT_CLAIM = timedelta(minutes=15)

#: Decisions and the reason codes each allows. "needs_more" parks the item until someone
#: reopens it with what was missing (a translation, the media, context).
REASON_CODES: dict[str, tuple[str, ...]] = {
    "advert": (
        "crossing_offer",
        "document_offer",
        "transport_offer",
        "testimonial",
        "referral_incentive",
        "recruitment",
        "other_advert",
    ),
    "not_advert": (
        "news_or_research",
        "official_or_ngo_warning",
        "migrant_own_post",
        "legitimate_travel",
        "unrelated",
        "other_not_advert",
    ),
    "needs_more": ("translation_needed", "media_check_needed", "context_needed"),
}
_STATUS_AFTER = {"advert": "decided", "not_advert": "decided", "needs_more": "parked"}


@dataclass(frozen=True)
class ReviewItem:
    id: int
    target: str
    kind: str
    post_id: int | None
    account_id: int | None
    platform: str
    score: float
    priority: float
    factors: dict[str, float]
    status: str
    claimed_by: str | None
    claim_expires_at: datetime | None
    decision: str | None
    reason_code: str | None
    decided_by: str | None
    case_id: int | None

    @classmethod
    def from_row(cls, row: Any) -> ReviewItem:
        return cls(
            id=row.id,
            target=row.target,
            kind=row.kind,
            post_id=row.post_id,
            account_id=row.account_id,
            platform=row.platform,
            score=row.score,
            priority=row.priority,
            factors=dict(row.priority_factors or {}),
            status=row.status,
            claimed_by=row.claimed_by,
            claim_expires_at=row.claim_expires_at,
            decision=row.decision,
            reason_code=row.reason_code,
            decided_by=row.decided_by,
            case_id=row.case_id,
        )


def priority_of(factors: dict[str, float]) -> float:
    return round(sum(WEIGHTS[name] * factors.get(name, 0.0) for name in WEIGHTS), 6)


def _reach(value: int | None) -> float:
    return min(1.0, math.log10(1 + value) / 6) if value else 0.0


def _network(size: int) -> float:
    return min(1.0, math.log2(size) / 5) if size > 1 else 0.0


def _recency(when: datetime | None, now: datetime) -> float:
    if when is None:
        return 0.0
    age = max((now - when).total_seconds() / 86400, 0.0)
    return math.exp(-age / 14)


@dataclass
class RefreshCounts:
    added: int = 0
    updated: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def refresh(
    engine: Engine,
    *,
    threshold: float,
    account_threshold: float | None = None,
    model_version: str | None = None,
    now: datetime | None = None,
) -> RefreshCounts:
    """Add items for detections and risky accounts at or above the thresholds; recompute the
    priority of items still open. ``model_version`` limits posts to one model's detections."""
    now = now or datetime.now(UTC)
    account_threshold = threshold if account_threshold is None else account_threshold
    run = latest_link_run(engine)
    network_size: dict[str, int] = {}
    account_network: dict[str, str] = {}
    risk: dict[str, float] = {}
    reemerged: set[str] = set()
    if run:
        for network in run.get("networks", []):
            network_size[network["id"]] = int(network["size"])
        for entry in run.get("accounts", []):
            risk[entry["account"]] = float(entry["risk"])
            if entry.get("network"):
                account_network[entry["account"]] = entry["network"]
        reemerged = {flag["account"] for flag in run.get("reemergence", [])}

    candidates: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for row in _post_candidates(conn, threshold, model_version):
            account = f"{row.platform}:{row.account_native_id}"
            reach = row.views or ((row.likes or 0) + (row.shares or 0)) or None
            factors = {
                "score": round(row.score, 6),
                "reach": round(_reach(reach), 6),
                "network": round(
                    _network(network_size.get(account_network.get(account, ""), 1)), 6
                ),
                "recency": round(_recency(row.created_at or row.first_seen_at, now), 6),
                "reemergence": 1.0 if account in reemerged else 0.0,
            }
            candidates[f"post:{row.id}"] = {
                "kind": "post",
                "post_id": row.id,
                "account_id": None,
                "platform": row.platform,
                "score": row.score,
                "factors": factors,
            }
        risky = {key: value for key, value in risk.items() if value >= account_threshold}
        for row in _account_rows(conn, list(risky)):
            account = f"{row.platform}:{row.native_id}"
            factors = {
                "score": round(risky[account], 6),
                "reach": round(_reach(row.followers), 6),
                "network": round(
                    _network(network_size.get(account_network.get(account, ""), 1)), 6
                ),
                "recency": round(_recency(row.last_seen, now), 6),
                "reemergence": 1.0 if account in reemerged else 0.0,
            }
            candidates[f"account:{row.id}"] = {
                "kind": "account",
                "post_id": None,
                "account_id": row.id,
                "platform": row.platform,
                "score": risky[account],
                "factors": factors,
            }

    counts = RefreshCounts()
    with engine.begin() as conn:
        existing = {
            row.target: row.status
            for row in conn.execute(select(t.review_items.c.target, t.review_items.c.status))
        }
        new_rows = []
        for target, item in candidates.items():
            priority = priority_of(item["factors"])
            if target not in existing:
                new_rows.append(
                    {
                        "target": target,
                        **{k: item[k] for k in ("kind", "post_id", "account_id", "platform")},
                        "score": item["score"],
                        "priority": priority,
                        "priority_factors": item["factors"],
                        "status": "open",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                counts.by_kind[item["kind"]] = counts.by_kind.get(item["kind"], 0) + 1
            elif existing[target] in ("open", "claimed"):
                conn.execute(
                    update(t.review_items)
                    .where(t.review_items.c.target == target)
                    .values(
                        score=item["score"],
                        priority=priority,
                        priority_factors=item["factors"],
                        updated_at=now,
                    )
                )
                counts.updated += 1
        if new_rows:
            conn.execute(insert(t.review_items), new_rows)
        counts.added = len(new_rows)
        audit.record(
            conn,
            actor="system",
            action="queue.refresh",
            entity="review_queue",
            entity_id="-",
            after={"added": counts.added, "updated": counts.updated, "threshold": threshold},
            at=now,
        )
    return counts


def _post_candidates(conn: Connection, threshold: float, model_version: str | None) -> Any:
    d = t.detections
    latest = select(d.c.post_id, func.max(d.c.id).label("detection_id")).group_by(d.c.post_id)
    if model_version:
        latest = latest.where(d.c.model_version == model_version)
    latest_sub = latest.subquery()
    obs = t.post_observations
    last_obs = (
        select(obs.c.post_id, func.max(obs.c.id).label("obs_id")).group_by(obs.c.post_id)
    ).subquery()
    query = (
        select(
            t.posts.c.id,
            t.posts.c.platform,
            t.posts.c.account_native_id,
            t.posts.c.created_at,
            t.posts.c.first_seen_at,
            d.c.score,
            obs.c.views,
            obs.c.likes,
            obs.c.shares,
        )
        .join(latest_sub, latest_sub.c.post_id == t.posts.c.id)
        .join(d, d.c.id == latest_sub.c.detection_id)
        .outerjoin(last_obs, last_obs.c.post_id == t.posts.c.id)
        .outerjoin(obs, obs.c.id == last_obs.c.obs_id)
        .where(d.c.score >= threshold)
    )
    return conn.execute(query)


def _account_rows(conn: Connection, keys: list[str]) -> Iterator[Any]:
    if not keys:
        return
    obs = t.account_observations
    last_obs = (
        select(obs.c.account_id, func.max(obs.c.id).label("obs_id")).group_by(obs.c.account_id)
    ).subquery()
    by_platform: dict[str, list[str]] = {}
    for key in keys:
        platform, _, native = key.partition(":")
        by_platform.setdefault(platform, []).append(native)
    for platform, natives in by_platform.items():
        for start in range(0, len(natives), 500):
            query = (
                select(
                    t.accounts.c.id,
                    t.accounts.c.platform,
                    t.accounts.c.native_id,
                    select(func.max(func.coalesce(t.posts.c.created_at, t.posts.c.first_seen_at)))
                    .where(
                        t.posts.c.platform == t.accounts.c.platform,
                        t.posts.c.account_native_id == t.accounts.c.native_id,
                    )
                    .scalar_subquery()
                    .label("last_seen"),
                    obs.c.followers,
                )
                .outerjoin(last_obs, last_obs.c.account_id == t.accounts.c.id)
                .outerjoin(obs, obs.c.id == last_obs.c.obs_id)
                .where(
                    t.accounts.c.platform == platform,
                    t.accounts.c.native_id.in_(natives[start : start + 500]),
                )
            )
            yield from conn.execute(query)


def _claimable(now: datetime) -> Any:
    items = t.review_items.c
    return or_(
        items.status == "open", and_(items.status == "claimed", items.claim_expires_at < now)
    )


def queue(
    conn: Connection, *, limit: int = 50, include_claimed: bool = True, now: datetime | None = None
) -> list[ReviewItem]:
    """Items waiting for a decision, highest priority first (claimed ones too, by default)."""
    now = now or datetime.now(UTC)
    items = t.review_items.c
    where = items.status.in_(("open", "claimed")) if include_claimed else _claimable(now)
    rows = conn.execute(
        select(t.review_items).where(where).order_by(items.priority.desc(), items.id).limit(limit)
    )
    return [ReviewItem.from_row(row) for row in rows]


def get(conn: Connection, item_id: int) -> ReviewItem:
    row = conn.execute(select(t.review_items).where(t.review_items.c.id == item_id)).first()
    if row is None:
        raise NotFound(f"no review item {item_id}")
    return ReviewItem.from_row(row)


def claim(
    engine: Engine,
    actor: Actor,
    item_id: int | None = None,
    *,
    ttl: timedelta = DEFAULT_CLAIM,
    now: datetime | None = None,
) -> ReviewItem | None:
    """Claim ``item_id``, or the highest-priority claimable item. Returns None when there is
    nothing to claim; raises Conflict when ``item_id`` is held by someone else."""
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    now = now or datetime.now(UTC)
    items = t.review_items.c
    while True:
        with engine.begin() as conn:
            if item_id is not None:
                candidates = [item_id]
            else:
                candidates = list(
                    conn.execute(
                        select(items.id)
                        .where(_claimable(now))
                        .order_by(items.priority.desc(), items.id)
                        .limit(20)
                    ).scalars()
                )
                if not candidates:
                    return None
            for candidate in candidates:
                won = conn.execute(
                    update(t.review_items)
                    .where(items.id == candidate, _claimable(now))
                    .values(
                        status="claimed",
                        claimed_by=actor.username,
                        claim_expires_at=now + ttl,
                        updated_at=now,
                    )
                ).rowcount
                if won:
                    audit.record(
                        conn,
                        actor=actor.username,
                        action="review.claim",
                        entity="review_item",
                        entity_id=candidate,
                        after={"expires_at": now + ttl},
                        at=now,
                    )
                    return get(conn, candidate)
            if item_id is not None:
                held = get(conn, item_id)
                raise Conflict(
                    f"review item {item_id} is {held.status}"
                    + (f" by {held.claimed_by}" if held.status == "claimed" else "")
                )
        # Every candidate was taken by someone else meanwhile: look again.


def release(engine: Engine, actor: Actor, item_id: int) -> None:
    with engine.begin() as conn:
        done = conn.execute(
            update(t.review_items)
            .where(
                t.review_items.c.id == item_id,
                t.review_items.c.status == "claimed",
                t.review_items.c.claimed_by == actor.username,
            )
            .values(status="open", claimed_by=None, claim_expires_at=None)
        ).rowcount
        if not done:
            raise Conflict(f"review item {item_id} is not claimed by {actor.username}")
        audit.record(
            conn,
            actor=actor.username,
            action="review.release",
            entity="review_item",
            entity_id=item_id,
        )


def decide(
    engine: Engine,
    actor: Actor,
    item_id: int,
    decision: str,
    reason_code: str,
    *,
    note: str = "",
    now: datetime | None = None,
) -> ReviewItem:
    """Record a decision on an item the actor holds the claim for."""
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    if decision not in REASON_CODES:
        raise ValueError(f"decision must be one of {', '.join(REASON_CODES)}, not {decision!r}")
    if reason_code not in REASON_CODES[decision]:
        raise ValueError(
            f"reason code {reason_code!r} does not go with {decision!r}; "
            f"use one of {', '.join(REASON_CODES[decision])}"
        )
    now = now or datetime.now(UTC)
    items = t.review_items.c
    with engine.begin() as conn:
        before = get(conn, item_id)
        status = _STATUS_AFTER[decision]
        done = conn.execute(
            update(t.review_items)
            .where(
                items.id == item_id, items.status == "claimed", items.claimed_by == actor.username
            )
            .values(
                status=status,
                decision=decision,
                reason_code=reason_code,
                decided_by=actor.username,
                decided_at=now,
                claimed_by=None,
                claim_expires_at=None,
                updated_at=now,
            )
        ).rowcount
        if not done:
            raise Conflict(
                f"review item {item_id} is not claimed by {actor.username} "
                f"(it is {before.status}{' by ' + before.claimed_by if before.claimed_by else ''}); "
                "claim it first"
            )
        text_sha, model_version = _scored_version(conn, before)
        conn.execute(
            insert(t.review_decisions).values(
                item_id=item_id,
                decision=decision,
                reason_code=reason_code,
                note=note,
                actor=actor.username,
                decided_at=now,
                text_sha256=text_sha,
                model_version=model_version,
                score=before.score,
            )
        )
        audit.record(
            conn,
            actor=actor.username,
            action="review.decide",
            entity="review_item",
            entity_id=item_id,
            before={"status": before.status, "decision": before.decision},
            after={"status": status, "decision": decision, "reason_code": reason_code},
            at=now,
        )
        return get(conn, item_id)


def reopen(
    engine: Engine, actor: Actor, item_id: int, *, note: str = "", now: datetime | None = None
) -> ReviewItem:
    """Put a parked (or decided) item back in the queue, e.g. once a translation arrived."""
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        before = get(conn, item_id)
        if before.status not in ("parked", "decided"):
            raise Conflict(f"review item {item_id} is {before.status}, not parked or decided")
        conn.execute(
            update(t.review_items)
            .where(t.review_items.c.id == item_id)
            .values(status="open", updated_at=now)
        )
        audit.record(
            conn,
            actor=actor.username,
            action="review.reopen",
            entity="review_item",
            entity_id=item_id,
            before={"status": before.status, "decision": before.decision},
            after={"status": "open", "note": note},
            at=now,
        )
        return get(conn, item_id)


def _scored_version(conn: Connection, item: ReviewItem) -> tuple[str, str]:
    if item.post_id is None:
        return "", ""
    row = conn.execute(
        select(t.detections.c.text_sha256, t.detections.c.model_version)
        .where(t.detections.c.post_id == item.post_id)
        .order_by(t.detections.c.id.desc())
        .limit(1)
    ).first()
    return (row.text_sha256, row.model_version) if row else ("", "")


def export_labels(conn: Connection) -> Iterator[dict[str, Any]]:
    """Decided posts as labelled training data (the corpus's line format), the latest decision
    per item. Only what a model needs: the text the analyst saw, the label, language and why;
    no account names or ids. Account items (no single text) and 'needs_more' are left out."""
    d = t.review_decisions
    latest = (
        select(d.c.item_id, func.max(d.c.id).label("decision_id"))
        .where(d.c.decision.in_(("advert", "not_advert")))
        .group_by(d.c.item_id)
    ).subquery()
    query = (
        select(
            d.c.id,
            d.c.decision,
            d.c.reason_code,
            d.c.decided_at,
            d.c.text_sha256,
            t.review_items.c.post_id,
            t.posts.c.text,
            t.posts.c.platform,
            t.posts.c.lang,
            select(t.detections.c.lang)
            .where(t.detections.c.post_id == t.posts.c.id)
            .order_by(t.detections.c.id.desc())
            .limit(1)
            .scalar_subquery()
            .label("detected_lang"),
        )
        .join(latest, latest.c.decision_id == d.c.id)
        .join(t.review_items, t.review_items.c.id == d.c.item_id)
        .join(t.posts, t.posts.c.id == t.review_items.c.post_id)
        .order_by(d.c.id)
    )
    for row in conn.execute(query):
        text = row.text
        if row.text_sha256:
            seen = conn.execute(
                select(t.post_versions.c.text).where(
                    t.post_versions.c.post_id == row.post_id,
                    t.post_versions.c.text_sha256 == row.text_sha256,
                )
            ).first()
            text = seen.text if seen else text
        yield {
            "id": f"review-{row.id}",
            "text": text,
            "label": row.decision,
            "category": row.reason_code,
            "lang": row.detected_lang or row.lang or "",
            "platform": row.platform,
            "provenance": f"analyst decision ({row.decided_at:%Y-%m-%d}), Tidewatch review queue",
        }
