"""Re-emergence: a new account that reuses a removed account's selectors or advert templates.

Takedowns alone miss this: the seller opens a backup account and posts the same number or
the same advert the next day. An account is *re-emerged* when it was first seen after an
earlier account was removed, and shares with that account a selector (not benign, and not a
number half the city posts) or an advert template. Accounts that were active before the
removal are backups or partners: the network stage links those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tidewatch.link.networks import (
    AccountFacts,
    AccountKey,
    LinkSettings,
    PostFacts,
    account_selectors,
)
from tidewatch.link.selectors import Selector
from tidewatch.link.templates import template_clusters


@dataclass
class ReEmergence:
    account: AccountKey
    earlier: AccountKey
    earlier_removed_at: datetime
    first_seen: datetime
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "account": f"{self.account[0]}:{self.account[1]}",
            "earlier_account": f"{self.earlier[0]}:{self.earlier[1]}",
            "earlier_removed_at": self.earlier_removed_at.isoformat(),
            "first_seen": self.first_seen.isoformat(),
            "evidence": self.evidence,
        }


def find_reemergence(
    accounts: Sequence[AccountFacts],
    posts: Sequence[PostFacts],
    settings: LinkSettings | None = None,
    selectors: dict[AccountKey, dict[Selector, list[str]]] | None = None,
) -> list[ReEmergence]:
    """``selectors``: the accounts' selectors if already extracted (``LinkResult.selectors``)."""
    settings = settings or LinkSettings()
    facts = {a.key: a for a in accounts}
    removed = {key: a.removed_at for key, a in facts.items() if a.removed_at is not None}
    if not removed:
        return []
    first_seen = _first_seen(facts, posts)
    if selectors is None:
        selectors = account_selectors(accounts, posts)
    users: dict[Selector, set[AccountKey]] = {}
    for account, owned in selectors.items():
        for selector in owned:
            users.setdefault(selector, set()).add(account)
    shared: dict[tuple[AccountKey, AccountKey], list[str]] = {}
    for selector, accounts_using in users.items():
        if len(accounts_using) > settings.max_share:
            continue
        for old in accounts_using & removed.keys():
            for new in accounts_using - {old}:
                shared.setdefault((new, old), []).append(f"selector {selector}")
    by_key = {p.key: p for p in posts}
    for members in template_clusters(
        [(p.key, p.text) for p in posts if p.label == "advert" or p.account in removed]
    ):
        owners = {by_key[k].account for k in members}  # type: ignore[index]
        for old in owners & removed.keys():
            for new in owners - {old}:
                shared.setdefault((new, old), []).append(f"template of {by_key[members[0]].key[1]}")  # type: ignore[index]
    found = []
    for (new, old), evidence in sorted(shared.items()):
        seen = first_seen.get(new)
        if seen is None or seen <= removed[old]:
            continue
        found.append(ReEmergence(new, old, removed[old], seen, sorted(set(evidence))))
    return found


def _first_seen(
    facts: dict[AccountKey, AccountFacts], posts: Sequence[PostFacts]
) -> dict[AccountKey, datetime]:
    """The earliest of the account's first sighting and its earliest post."""
    earliest: dict[AccountKey, datetime] = {
        k: a.first_seen for k, a in facts.items() if a.first_seen
    }
    for post in posts:
        if post.created_at and (
            post.account not in earliest or post.created_at < earliest[post.account]
        ):
            earliest[post.account] = post.created_at
    return earliest
