"""Linking at scale: template clustering and network building on a generated scenario.

    python bench/link.py                  # about 1,000,000 posts
    python bench/link.py --posts 100000

Prints each step's wall-clock and CPU time (other work on a shared machine slows the wall
clock, much less the CPU time), the peak memory (resident set size) after it, and the
recovered networks' adjusted Rand index against the scenario's ground truth. Template
clustering and media (PDQ) matching are also timed alone; the network build repeats them,
with phone, link and profile selectors, and the graph.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import TypeVar

from sklearn.metrics import adjusted_rand_score

from tidewatch.link.networks import build_networks, media_selectors
from tidewatch.link.reemergence import find_reemergence
from tidewatch.link.scenario import generate
from tidewatch.link.templates import template_clusters

POSTS_PER_ACCOUNT = 10
AVERAGE_NETWORK = 4.6  # accounts per network in the scenario, re-emerged ones included
T = TypeVar("T")


def timed(name: str, posts: int, work: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{name}: {wall:.1f}s wall, {cpu:.1f}s CPU = {posts / wall:,.0f} posts/s; "
        f"peak memory so far {peak:,.0f} MiB",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000)
    args = parser.parse_args()
    networks = max(1, int(args.posts * 0.9 / (AVERAGE_NETWORK * POSTS_PER_ACCOUNT)))
    benign = max(1, int(args.posts * 0.1 / 3))
    scenario = timed(
        "scenario generated",
        args.posts,
        lambda: generate(networks=networks, benign=benign, posts_per_account=POSTS_PER_ACCOUNT),
    )
    posts = len(scenario.posts)
    images = sum(len(p.media_hashes) for p in scenario.posts)
    print(
        f"scenario: {posts:,} posts, {images:,} image hashes, {len(scenario.accounts):,} accounts, {networks:,} networks"
    )
    clusters = timed(
        "template clustering alone",
        posts,
        lambda: template_clusters([(p.key, p.text) for p in scenario.posts]),
    )
    print(f"  {len(clusters):,} template clusters")
    media = timed("media (PDQ) selectors alone", posts, lambda: media_selectors(scenario.posts))
    print(f"  {len({s for found in media.values() for s in found}):,} distinct pictures")
    result = timed(
        "networks (selectors + media + templates + graph)",
        posts,
        lambda: build_networks(scenario.accounts, scenario.posts),
    )
    print(f"  {len(result.networks):,} networks")
    flags = timed(
        "re-emergence",
        posts,
        lambda: find_reemergence(scenario.accounts, scenario.posts, selectors=result.selectors),
    )
    keys = sorted(scenario.network_of)
    ari = adjusted_rand_score(
        [scenario.network_of[k] for k in keys],
        [result.network_of.get(k, f"alone:{k}") for k in keys],
    )
    benign_joined = sum(b in result.network_of for b in scenario.benign)
    found = sum(
        {f.account: f.earlier for f in flags}.get(n) == o for n, o in scenario.reemerged.items()
    )
    print(f"re-emergence: {found}/{len(scenario.reemerged)} flagged")
    print(f"adjusted Rand index {ari:.3f}; benign accounts joined to a network: {benign_joined}")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
