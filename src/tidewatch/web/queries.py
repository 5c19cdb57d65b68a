"""What the console's pages show, read from the database (one function per page)."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from tidewatch.errors import NotFound
from tidewatch.store import tables as t
from tidewatch.store.networks import network_outcomes


def highlight(text: str, reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``text`` cut into segments, each marked with the reasons whose span covers it. Spans
    are checked against the text (a span from another version of the post is not shown)."""
    spans = []
    for reason in reasons or []:
        start, end = reason.get("start"), reason.get("end")
        if (
            isinstance(start, int)
            and isinstance(end, int)
            and 0 <= start < end <= len(text)
            and text[start:end] == reason.get("evidence", text[start:end])
        ):
            spans.append((start, end, reason))
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    segments = []
    for a, b in itertools.pairwise(cuts):
        covering = [r for s, e, r in spans if s <= a and b <= e]
        segments.append(
            {
                "text": text[a:b],
                "signals": sorted({r["signal"] for r in covering}),
                "weight": round(sum(float(r.get("weight", 0)) for r in covering), 3),
            }
        )
    return segments


def post_page(conn: Connection, post_id: int) -> dict[str, Any]:
    post = conn.execute(select(t.posts).where(t.posts.c.id == post_id)).first()
    if post is None:
        raise NotFound(f"no post {post_id}")
    account = conn.execute(
        select(t.accounts).where(
            t.accounts.c.platform == post.platform, t.accounts.c.native_id == post.account_native_id
        )
    ).first()
    detection = conn.execute(
        select(t.detections)
        .where(t.detections.c.post_id == post_id)
        .order_by(t.detections.c.id.desc())
        .limit(1)
    ).first()
    reasons = list(detection.reasons) if detection else []
    media = conn.execute(
        select(t.media).where(t.media.c.post_id == post_id).order_by(t.media.c.id)
    ).all()
    item = conn.execute(select(t.review_items).where(t.review_items.c.post_id == post_id)).first()
    versions = conn.execute(
        select(t.post_versions)
        .where(t.post_versions.c.post_id == post_id)
        .order_by(t.post_versions.c.version_no)
    ).all()
    return {
        "post": post,
        "account": account,
        "detection": detection,
        "reasons": sorted(reasons, key=lambda r: -float(r.get("weight", 0))),
        "segments": highlight(post.text or "", reasons),
        "media": media,
        "item": item,
        "versions": versions,
    }


def account_page(conn: Connection, account_id: int, run: dict[str, Any] | None) -> dict[str, Any]:
    account = conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).first()
    if account is None:
        raise NotFound(f"no account {account_id}")
    latest = (
        select(t.detections.c.post_id, func.max(t.detections.c.id).label("id"))
        .group_by(t.detections.c.post_id)
        .subquery()
    )
    posts = conn.execute(
        select(
            t.posts.c.id,
            t.posts.c.text,
            t.posts.c.created_at,
            t.posts.c.kind,
            t.detections.c.score,
            t.detections.c.label,
        )
        .outerjoin(latest, latest.c.post_id == t.posts.c.id)
        .outerjoin(t.detections, t.detections.c.id == latest.c.id)
        .where(
            t.posts.c.platform == account.platform, t.posts.c.account_native_id == account.native_id
        )
        .order_by(t.posts.c.created_at.desc(), t.posts.c.id.desc())
        .limit(200)
    ).all()
    key = f"{account.platform}:{account.native_id}"
    risk = next((a for a in (run or {}).get("accounts", []) if a["account"] == key), None)
    network = None
    if risk and risk.get("network"):
        network = next((n for n in run["networks"] if n["id"] == risk["network"]), None)  # type: ignore[index]
    selectors: Counter[str] = Counter()
    if network:
        for link in network["links"]:
            if key in (link.get("a"), link.get("b")):
                for evidence in link.get("evidence", []):
                    if evidence.get("kind") == "selector":
                        selectors[evidence.get("value", "")] += 1
    observations = conn.execute(
        select(t.account_observations)
        .where(t.account_observations.c.account_id == account_id)
        .order_by(t.account_observations.c.id.desc())
        .limit(20)
    ).all()
    reemerged = [r for r in (run or {}).get("reemergence", []) if r["account"] == key]
    return {
        "account": account,
        "posts": posts,
        "risk": risk,
        "network": network,
        "selectors": selectors.most_common(),
        "observations": observations,
        "reemerged": reemerged,
    }


#: Per engine: the latest link run's document (immutable once stored, so kept by run id) and
#: the referred/removed counts (kept until anything is audited, as every change is).
_RUNS: dict[int, tuple[int, dict[str, Any]]] = {}
_OUTCOMES: dict[int, tuple[tuple[int, int], dict[str, tuple[int, int]]]] = {}


def link_run(engine: Engine) -> dict[str, Any] | None:
    """The latest link run with each network's referred and removed counts as they stand. A
    run's document can be tens of megabytes: it is parsed once per run, not per page view."""
    with engine.connect() as conn:
        run_id = conn.execute(select(func.max(t.link_runs.c.id))).scalar()
        if run_id is None:
            return None
        seq = conn.execute(select(t.audit_head.c.seq)).scalar() or 0
        cached = _RUNS.get(id(engine))
        if cached is None or cached[0] != run_id:
            row = conn.execute(select(t.link_runs).where(t.link_runs.c.id == run_id)).one()
            cached = (
                run_id,
                {"run_id": row.id, "built_at": row.built_at.isoformat(), **row.document},
            )
            _RUNS[id(engine)] = cached
        outcomes = _OUTCOMES.get(id(engine))
        if outcomes is None or outcomes[0] != (run_id, seq):
            outcomes = ((run_id, seq), network_outcomes(conn, run_id))
            _OUTCOMES[id(engine)] = outcomes
    document = dict(cached[1])
    document["networks"] = [
        {
            **n,
            "referred": outcomes[1].get(n["id"], (0, 0))[0],
            "removed": outcomes[1].get(n["id"], (0, 0))[1],
        }
        for n in document.get("networks", [])
    ]
    return document


def account_ids(conn: Connection, keys: list[str]) -> dict[str, int]:
    """ "platform:native_id" -> our account id, for links."""
    found: dict[str, int] = {}
    by_platform: dict[str, list[str]] = {}
    for key in keys:
        platform, _, native = key.partition(":")
        by_platform.setdefault(platform, []).append(native)
    for platform, natives in by_platform.items():
        for start in range(0, len(natives), 500):
            for row in conn.execute(
                select(t.accounts.c.id, t.accounts.c.native_id).where(
                    t.accounts.c.platform == platform,
                    t.accounts.c.native_id.in_(natives[start : start + 500]),
                )
            ):
                found[f"{platform}:{row.native_id}"] = row.id
    return found


def dashboard(conn: Connection) -> dict[str, Any]:
    r = t.referrals
    by_status: dict[str, int] = dict(
        conn.execute(
            select(r.c.status, func.count()).where(r.c.direction == "outbound").group_by(r.c.status)
        ).all()
    )
    by_platform = conn.execute(
        select(r.c.platform, r.c.status, func.count())
        .where(r.c.direction == "outbound")
        .group_by(r.c.platform, r.c.status)
    ).all()
    platforms: dict[str, dict[str, int]] = {}
    for platform, status, count in by_platform:
        platforms.setdefault(platform, {})[status] = count
    actioned = sum(by_status.get(s, 0) for s in ("removed", "restricted", "geo_blocked"))
    answered = actioned + by_status.get("no_violation", 0)
    queue: dict[str, int] = dict(
        conn.execute(
            select(t.review_items.c.status, func.count()).group_by(t.review_items.c.status)
        ).all()
    )
    return {
        "by_status": by_status,
        "platforms": platforms,
        "platform_rows": sorted((p, sum(v.values())) for p, v in platforms.items()),
        "actioned": actioned,
        "answered": answered,
        "removal_rate": (actioned / answered) if answered else None,
        "queue": queue,
        "posts": conn.execute(select(func.count()).select_from(t.posts)).scalar_one(),
        "accounts": conn.execute(select(func.count()).select_from(t.accounts)).scalar_one(),
        "adverts": conn.execute(
            select(func.count(func.distinct(t.detections.c.post_id))).where(
                t.detections.c.label == "advert"
            )
        ).scalar_one(),
        "escalated": conn.execute(
            select(func.count())
            .select_from(r)
            .where(
                r.c.escalated_at.is_not(None),
                r.c.status.in_(("sent", "acknowledged", "more_info_requested")),
            )
        ).scalar_one(),
    }
