"""Independent re-checks: is a referred account or post still up?

A platform's word that it removed something is checked, not taken on trust: each referred URL
is fetched from the outside and its state stored as a dated observation (``rechecks``), never
overwriting an earlier one. States:

* ``live``: the page shows the account or post;
* ``not_found``: 404/410, or the platform's "this page isn't available" page;
* ``suspended``: the platform's suspension notice;
* ``private``: a private/protected account; not removed (its content is still there);
* ``withheld``: 451, or a country-withheld notice (geo-blocked where we looked from);
* ``error``: the check itself failed (network, timeout, unexpected status): no conclusion.

Only URLs on the platforms' own hosts, over HTTPS, are fetched: referral URLs can come from
hostile source data, and the checker must never be steered at an internal address.
``rewrite`` maps an origin to a mirror (a staging proxy, or the loopback server in tests).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, func, insert, select

from tidewatch.store import tables as t

ALLOWED_HOSTS = (
    "x.com",
    "twitter.com",
    "facebook.com",
    "instagram.com",
    "tiktok.com",
    "youtube.com",
    "t.me",
)
REMOVED_STATES = ("not_found", "suspended")

#: Page texts that mean a state, checked in this order (lower-cased page text).
_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "suspended",
        re.compile(
            r"account (?:has been |is )?suspended|this account doesn.t exist anymore|"
            r"account (?:was )?(?:banned|terminated)"
        ),
    ),
    (
        "not_found",
        re.compile(
            r"this page isn.t available|this account doesn.t exist|page not found|"
            r"this content isn.t available|video (?:is )?unavailable|couldn.t find this account"
        ),
    ),
    ("withheld", re.compile(r"withheld in|not available in your country")),
    ("private", re.compile(r"this account is private|these posts are protected|private account")),
)


@dataclass(frozen=True)
class Recheck:
    item_id: int
    url: str
    state: str
    http_status: int | None
    detail: str
    checked_at: datetime


def classify(status: int, body: str) -> str:
    if status in (404, 410):
        return "not_found"
    if status == 451:
        return "withheld"
    if status >= 400:
        return "error"
    text = body.lower()
    for state, pattern in _MARKERS:
        if pattern.search(text):
            return state
    return "live"


def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and any(
        host == allowed or host.endswith("." + allowed) for allowed in ALLOWED_HOSTS
    )


def _target(url: str, rewrite: Mapping[str, str]) -> str:
    for origin, mirror in rewrite.items():
        if url.startswith(origin.rstrip("/") + "/"):
            return mirror.rstrip("/") + url[len(origin.rstrip("/")) :]
    return url


def check_url(
    client: httpx.Client, url: str, rewrite: Mapping[str, str] = {}
) -> tuple[str, int | None, str]:
    if not _allowed(url):
        return "error", None, "not a platform URL over HTTPS: not fetched"
    try:
        response = client.get(_target(url, rewrite))
    except httpx.HTTPError as error:
        return "error", None, f"{type(error).__name__}: {error}"[:300]
    # Pages are read only far enough to find the markers.
    return classify(response.status_code, response.text[:200_000]), response.status_code, ""


def recheck_referrals(
    engine: Engine,
    *,
    referral_ids: Sequence[int] | None = None,
    rewrite: Mapping[str, str] = {},
    timeout: float = 10.0,
    now: datetime | None = None,
) -> list[Recheck]:
    """Check every item of sent (or later) outbound referrals, or of ``referral_ids``."""
    now = now or datetime.now(UTC)
    query = (
        select(t.referral_items.c.id, t.referral_items.c.url)
        .join(t.referrals, t.referrals.c.id == t.referral_items.c.referral_id)
        .where(t.referrals.c.direction == "outbound", t.referrals.c.sent_at.is_not(None))
        .order_by(t.referral_items.c.id)
    )
    if referral_ids is not None:
        query = query.where(t.referrals.c.id.in_(list(referral_ids)))
    with engine.connect() as conn:
        items = conn.execute(query).all()
    results: list[Recheck] = []
    headers = {"User-Agent": "Tidewatch-recheck/1 (+https://github.com/tidewatch)"}
    with httpx.Client(timeout=timeout, follow_redirects=True, headers=headers) as client:
        for item in items:
            if not item.url:
                continue
            state, status, detail = check_url(client, item.url, rewrite)
            results.append(Recheck(item.id, item.url, state, status, detail, now))
    if results:
        with engine.begin() as conn:
            conn.execute(
                insert(t.rechecks),
                [
                    {
                        "item_id": r.item_id,
                        "checked_at": r.checked_at,
                        "url": r.url,
                        "http_status": r.http_status,
                        "state": r.state,
                        "detail": r.detail,
                    }
                    for r in results
                ],
            )
    return results


def latest_states(engine: Engine, referral_id: int) -> dict[int, dict[str, Any]]:
    """Per item of the referral: its latest re-check, and whether it contradicts the
    platform's answer (a removal reported but the page still live)."""
    r = t.rechecks
    latest = select(r.c.item_id, func.max(r.c.id).label("id")).group_by(r.c.item_id).subquery()
    query = (
        select(r, t.referral_items.c.status.label("reported"))
        .join(latest, latest.c.id == r.c.id)
        .join(t.referral_items, t.referral_items.c.id == r.c.item_id)
        .where(t.referral_items.c.referral_id == referral_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        row.item_id: {
            "state": row.state,
            "checked_at": row.checked_at,
            "http_status": row.http_status,
            "reported": row.reported,
            "confirmed_removed": row.state in REMOVED_STATES,
            "contradicts_platform": row.reported == "removed" and row.state == "live",
        }
        for row in rows
    }
