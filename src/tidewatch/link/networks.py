"""Networks: accounts joined by shared selectors and shared advert templates.

How an edge is weighed (each rule is a setting of :class:`LinkSettings`):

* a shared selector adds its rarity, ``log(accounts / accounts using it)``: a number shared
  by two accounts out of a thousand is strong evidence, a link everyone posts is none;
* a selector used mostly by accounts with no advert (a rescue hotline, a news link) or by
  more than ``max_share`` accounts is dropped, as are the known benign selectors;
* a shared template (the same advert with another phone number) adds ``template_weight``.

Only accounts with at least one post the detector labelled ``advert`` become nodes, so a
benign account cannot be joined to a network through a selector it shares. Networks are the
connected components of the edges that reach ``min_edge``; every edge keeps its evidence.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from tidewatch.detect.media import PDQIndex, hexes_to_codes
from tidewatch.detect.video import VPDQ_MATCH_PERCENT
from tidewatch.link.selectors import Selector, selectors_in
from tidewatch.link.templates import template_clusters

AccountKey = tuple[str, str]
#: Copies of one picture above which it is treated as common, not as evidence of a network.
MAX_MEDIA_COPIES = 200
PostKey = tuple[str, str]


@dataclass(frozen=True)
class PostFacts:
    key: PostKey
    account: AccountKey
    text: str
    lang: str = ""
    score: float = 0.0
    label: str = "not_advert"
    created_at: datetime | None = None
    #: PDQ hashes (hex) of the post's images.
    media_hashes: tuple[str, ...] = ()
    #: The post's videos, each as its vPDQ frame hashes (PDQ hex, quality 50 or more).
    videos: tuple[tuple[str, ...], ...] = ()
    #: Text read in the post's pictures: its phone numbers and links are selectors like the
    #: caption's, but it is not part of the template (a picture's layout is not a text's).
    image_text: str = ""


@dataclass(frozen=True)
class AccountFacts:
    key: AccountKey
    handle: str = ""
    display_name: str = ""
    bio: str = ""
    links: tuple[str, ...] = ()
    first_seen: datetime | None = None
    #: When the account was seen removed (suspended, deleted, not found); None while live.
    removed_at: datetime | None = None


@dataclass(frozen=True)
class LinkSettings:
    min_edge: float = 1.0
    template_weight: float = 1.5
    max_share: int = 25
    #: A selector whose users are mostly accounts without adverts is someone else's number.
    max_benign_share: float = 0.5


@dataclass
class Evidence:
    kind: str  # "selector" | "template"
    value: str  # the selector, or a template's example post
    weight: float
    posts: list[str] = field(default_factory=list)


@dataclass
class Network:
    id: str
    accounts: list[AccountKey]
    platforms: list[str]
    languages: list[str]
    selectors: list[str]
    templates: int
    first_seen: datetime | None
    last_seen: datetime | None
    links: list[dict[str, Any]]  # {"a": account, "b": account, "weight": w, "evidence": [...]}
    referred: int = 0
    removed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accounts": [f"{p}:{a}" for p, a in self.accounts],
            "size": len(self.accounts),
            "platforms": self.platforms,
            "languages": self.languages,
            "selectors": self.selectors,
            "templates": self.templates,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "referred": self.referred,
            "removed": self.removed,
            "links": self.links,
        }


@dataclass
class LinkResult:
    networks: list[Network]
    graph: nx.Graph
    network_of: dict[AccountKey, str]
    #: Every account's selectors, with the posts they were written in (re-emergence reuses them).
    selectors: dict[AccountKey, dict[Selector, list[str]]] = field(default_factory=dict)


def network_id(members: Iterable[AccountKey]) -> str:
    """A network's id: a hash of its sorted (platform, account) members, so the same accounts
    give the same id in every run and in the Spark job."""
    identity = hashlib.sha256("|".join(f"{p}:{a}" for p, a in members).encode())
    return f"net-{identity.hexdigest()[:12]}"


def account_selectors(
    accounts: Iterable[AccountFacts], posts: Iterable[PostFacts]
) -> dict[AccountKey, dict[Selector, list[str]]]:
    """Selector -> the posts (or "bio") where each account wrote it. Near-identical images
    (PDQ distance <= 31: re-uploads, re-encodes) count as one ``media`` selector."""
    posts = list(posts)
    found: dict[AccountKey, dict[Selector, list[str]]] = {}
    media = media_selectors(posts)
    videos = video_selectors(posts)
    for post in posts:
        where = f"{post.key[0]}:{post.key[1]}"
        seen = media.get(post.key, set()) | videos.get(post.key, set())
        text = f"{post.text}\n{post.image_text}" if post.image_text else post.text
        for selector in selectors_in(text, post.lang) | seen:
            found.setdefault(post.account, {}).setdefault(selector, []).append(where)
    for account in accounts:
        profile = "\n".join([account.bio, *account.links])
        for selector in selectors_in(profile) if profile.strip() else ():
            found.setdefault(account.key, {}).setdefault(selector, []).append("profile")
    return found


def media_selectors(posts: Sequence[PostFacts]) -> dict[PostKey, set[Selector]]:
    """Each post's images as ``media`` selectors: hashes within PDQ distance 31 of each other
    (transitively) share one selector, named after the cluster's first hash.

    A hash with more than ``MAX_MEDIA_COPIES`` copies within distance 31 (a viral news photo,
    a meme) links nobody through its own matches, like a selector past ``max_share``; its
    search stops at the cap, so a picture posted thousands of times costs no more than one
    posted two hundred times. Identical hashes are searched once and counted as copies.
    """
    owners = [post.key for post in posts for _ in post.media_hashes]
    values = [value for post in posts for value in post.media_hashes]
    if not values:
        return {}
    distinct: dict[str, int] = {}
    code_of = np.fromiter(
        (distinct.setdefault(value.strip().lower(), len(distinct)) for value in values),
        dtype=np.int64,
        count=len(values),
    )
    codes = hexes_to_codes(list(distinct))
    copies = np.bincount(code_of, minlength=len(codes))
    query, row, over = PDQIndex(codes).search_many(codes, limit=MAX_MEDIA_COPIES, weights=copies)
    graph = sp.coo_matrix(
        (np.ones(len(query), dtype=np.int8), (query, row)), shape=(len(codes), len(codes))
    )
    _count, cluster = connected_components(graph, directed=False)
    # A common picture's exact copies are no evidence either: at a million posts, copies of
    # a viral photo with the same one or two bits changed fell on a few accounts each and
    # joined them. Only a picture something less common matched keeps a selector.
    common = over & (np.bincount(cluster)[cluster] == 1)
    # Named after the cluster's first hash in post order, so the name does not depend on
    # the order in which matches were found.
    first_seen = np.full(len(codes), len(values), dtype=np.int64)
    np.minimum.at(first_seen, code_of, np.arange(len(values)))
    name_at = np.full(int(cluster.max()) + 1, len(values), dtype=np.int64)
    np.minimum.at(name_at, cluster, first_seen)
    names = name_at[cluster[code_of]].tolist()
    found: dict[PostKey, set[Selector]] = {}
    for key, name, skip in zip(owners, names, common[code_of].tolist(), strict=True):
        if not skip:
            found.setdefault(key, set()).add(Selector("media", values[name]))
    return found


def video_selectors(posts: Sequence[PostFacts]) -> dict[PostKey, set[Selector]]:
    """Each post's videos as ``media`` selectors (``video:`` and a frame hash): two videos
    are one when, as vPDQ matches, 80% of one's frames have a frame of the other within PDQ
    distance 31 (a re-encode, a rescaled copy, a clip cut from it), transitively.

    Frames are matched all at once with the PDQ index, so only videos sharing a frame are
    compared; a frame with more than ``MAX_MEDIA_COPIES`` copies (a logo, a title card)
    counts for no one, as a picture would.
    """
    owners = [post.key for post in posts for video in post.videos if video]
    frames = [video for post in posts for video in post.videos if video]
    video_of = np.fromiter(
        (number for number, video in enumerate(frames) for _ in video), dtype=np.int64
    )
    if len(video_of) == 0:
        return {}
    codes = hexes_to_codes([frame for video in frames for frame in video])
    query, row, _over = PDQIndex(codes).search_many(codes, limit=MAX_MEDIA_COPIES)
    a, b = video_of[query], video_of[row]
    other = a != b
    # Frames of video a with a match in video b, each frame once: a's share found in b.
    triples = np.unique(np.stack([a[other], b[other], query[other]], axis=1), axis=0)
    pairs, found = np.unique(triples[:, :2], axis=0, return_counts=True)
    lengths = np.bincount(video_of, minlength=len(frames))
    same = pairs[found * 100.0 >= VPDQ_MATCH_PERCENT * lengths[pairs[:, 0]]]
    graph = sp.coo_matrix(
        (np.ones(len(same), dtype=np.int8), (same[:, 0], same[:, 1])),
        shape=(len(frames), len(frames)),
    )
    _count, cluster = connected_components(graph, directed=False)
    first = np.full(int(cluster.max()) + 1, len(frames), dtype=np.int64)
    np.minimum.at(first, cluster, np.arange(len(frames)))
    found_selectors: dict[PostKey, set[Selector]] = {}
    for key, number in zip(owners, first[cluster].tolist(), strict=True):
        name = "video:" + frames[number][0].strip().lower()
        found_selectors.setdefault(key, set()).add(Selector("media", name))
    return found_selectors


def build_networks(
    accounts: Sequence[AccountFacts],
    posts: Sequence[PostFacts],
    settings: LinkSettings | None = None,
) -> LinkResult:
    settings = settings or LinkSettings()
    risky = {post.account for post in posts if post.label == "advert"}
    all_accounts = {a.key for a in accounts} | {p.account for p in posts}
    selectors = account_selectors(accounts, posts)
    users: dict[Selector, set[AccountKey]] = {}
    for account, owned in selectors.items():
        for selector in owned:
            users.setdefault(selector, set()).add(account)

    graph: nx.Graph = nx.Graph()
    graph.add_nodes_from(sorted(risky))
    total = max(len(all_accounts), 2)
    for selector, accounts_using in sorted(users.items()):
        candidates = sorted(accounts_using & risky)
        benign_share = 1 - len(candidates) / len(accounts_using)
        if (
            len(candidates) < 2
            or len(accounts_using) > settings.max_share
            or benign_share > settings.max_benign_share
        ):
            continue
        weight = math.log(total / len(accounts_using))
        for i, a in enumerate(candidates):
            for b in candidates[i + 1 :]:
                posts_seen = selectors[a][selector][:3] + selectors[b][selector][:3]
                _add(graph, a, b, Evidence("selector", str(selector), weight, posts_seen))

    by_key = {p.key: p for p in posts}
    clusters = template_clusters([(p.key, p.text) for p in posts])
    for members in clusters:
        # A template mostly posted as non-adverts (a hotline notice, a news blurb) is not an
        # advert template, even if the detector wrongly flagged a copy or two of it.
        adverts = sum(by_key[k].label == "advert" for k in members)  # type: ignore[index]
        if adverts / len(members) < 1 - settings.max_benign_share:
            continue
        owners = sorted({by_key[k].account for k in members} & risky)  # type: ignore[index]
        example = by_key[members[0]].text[:140]  # type: ignore[index]
        for i, a in enumerate(owners):
            for b in owners[i + 1 :]:
                shown = [f"{k[0]}:{k[1]}" for k in members[:6]]  # type: ignore[index]
                _add(graph, a, b, Evidence("template", example, settings.template_weight, shown))

    strong: nx.Graph = nx.Graph()
    strong.add_nodes_from(graph.nodes)
    strong.add_edges_from(
        (a, b, d) for a, b, d in graph.edges(data=True) if d["weight"] >= settings.min_edge
    )
    networks: list[Network] = []
    network_of: dict[AccountKey, str] = {}
    posts_of: dict[AccountKey, list[PostFacts]] = {}
    for post in posts:
        posts_of.setdefault(post.account, []).append(post)
    cluster_of = {key: number for number, members in enumerate(clusters) for key in members}
    for component in nx.connected_components(strong):
        if len(component) < 2:
            continue
        network = _summarise(sorted(component), strong, posts_of, selectors, cluster_of)
        networks.append(network)
        for account in component:
            network_of[account] = network.id
    networks.sort(key=lambda n: (-len(n.accounts), n.id))
    return LinkResult(networks=networks, graph=strong, network_of=network_of, selectors=selectors)


def _add(graph: nx.Graph, a: AccountKey, b: AccountKey, evidence: Evidence) -> None:
    if graph.has_edge(a, b):
        data = graph.edges[a, b]
        data["weight"] += evidence.weight
        data["evidence"].append(evidence)
    else:
        graph.add_edge(a, b, weight=evidence.weight, evidence=[evidence])


def _summarise(
    members: list[AccountKey],
    graph: nx.Graph,
    posts_of: dict[AccountKey, list[PostFacts]],
    selectors: dict[AccountKey, dict[Selector, list[str]]],
    cluster_of: dict[Any, int],
) -> Network:
    own_posts = [p for account in members for p in posts_of.get(account, ())]
    times = sorted(p.created_at for p in own_posts if p.created_at)
    # Selectors held by two members or more, counted in one pass: asking every member of
    # every member's selectors was quadratic in the network's size (minutes for a network of
    # thousands of accounts).
    holders = Counter(s for a in members for s in selectors.get(a, {}))
    shared = sorted({str(s) for s, count in holders.items() if count >= 2})
    templates = len({cluster_of[p.key] for p in own_posts if p.key in cluster_of})
    links = [
        {
            "a": f"{a[0]}:{a[1]}",
            "b": f"{b[0]}:{b[1]}",
            "weight": round(data["weight"], 3),
            "evidence": [
                {"kind": e.kind, "value": e.value, "weight": round(e.weight, 3), "posts": e.posts}
                for e in data["evidence"]
            ],
        }
        for a, b, data in sorted(graph.subgraph(members).edges(data=True))
    ]
    return Network(
        id=network_id(members),
        accounts=members,
        platforms=sorted({a[0] for a in members}),
        languages=sorted({p.lang for p in own_posts if p.lang}),
        selectors=shared,
        templates=templates,
        first_seen=times[0] if times else None,
        last_seen=times[-1] if times else None,
        links=links,
    )


def to_gexf(result: LinkResult) -> nx.Graph:
    """A graph for Gephi: accounts with their network, edges with weight and evidence text."""
    export: nx.Graph = nx.Graph()
    for node in result.graph.nodes:
        if node in result.network_of:
            export.add_node(
                f"{node[0]}:{node[1]}", platform=node[0], network=result.network_of[node]
            )
    for a, b, data in result.graph.edges(data=True):
        if a in result.network_of and b in result.network_of:
            export.add_edge(
                f"{a[0]}:{a[1]}",
                f"{b[0]}:{b[1]}",
                weight=float(data["weight"]),
                evidence="; ".join(f"{e.kind} {e.value[:60]}" for e in data["evidence"]),
            )
    return export
