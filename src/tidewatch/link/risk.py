"""Account risk: the NCA counts accounts, not posts. An account's risk combines its posts'
detections with its network membership, and says which posts and which links drove it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tidewatch.link.networks import AccountKey, LinkResult, PostFacts

#: How much belonging to a network closes the gap to 1: a borderline account that shares
#: a phone number with five flagged accounts deserves review before one that stands alone.
NETWORK_LIFT = 0.3
MAX_POSTS_LISTED = 3


@dataclass
class AccountRisk:
    account: AccountKey
    risk: float
    adverts: int
    posts: int
    network: str = ""
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "account": f"{self.account[0]}:{self.account[1]}",
            "risk": round(self.risk, 4),
            "adverts": self.adverts,
            "posts": self.posts,
            "network": self.network,
            "reasons": self.reasons,
        }


def account_risk(posts: Sequence[PostFacts], result: LinkResult) -> list[AccountRisk]:
    by_account: dict[AccountKey, list[PostFacts]] = {}
    for post in posts:
        by_account.setdefault(post.account, []).append(post)
    risks: list[AccountRisk] = []
    for account, own in by_account.items():
        ranked = sorted(own, key=lambda p: -p.score)
        risk = ranked[0].score
        reasons = [
            f"post {p.key[0]}:{p.key[1]} scored {p.score:.2f}" for p in ranked[:MAX_POSTS_LISTED]
        ]
        adverts = sum(p.label == "advert" for p in own)
        if adverts > 1:
            reasons.append(f"{adverts} of {len(own)} posts are adverts")
        network = result.network_of.get(account, "")
        if network:
            risk = 1 - (1 - risk) * (1 - NETWORK_LIFT)
            neighbours = list(result.graph.neighbors(account))
            reasons.append(f"linked to {len(neighbours)} flagged accounts in {network}")
        risks.append(AccountRisk(account, risk, adverts, len(own), network, reasons))
    risks.sort(key=lambda r: -r.risk)
    return risks
