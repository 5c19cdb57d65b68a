"""Linking at scale: template clustering and network building on a generated scenario.

    python bench/link.py                  # about 1,000,000 posts
    python bench/link.py --posts 100000

Prints the time of each step, peak memory (resident set size) and the recovered networks'
adjusted Rand index against the scenario's ground truth. Media (PDQ) matching is not yet
part of the link stage and so not measured here.
"""

from __future__ import annotations

import argparse
import resource
import time

from sklearn.metrics import adjusted_rand_score

from tidewatch.link.networks import build_networks
from tidewatch.link.reemergence import find_reemergence
from tidewatch.link.scenario import generate
from tidewatch.link.templates import template_clusters

POSTS_PER_ACCOUNT = 10
AVERAGE_NETWORK = 4.6  # accounts per network in the scenario, re-emerged ones included


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000)
    args = parser.parse_args()
    networks = max(1, int(args.posts * 0.9 / (AVERAGE_NETWORK * POSTS_PER_ACCOUNT)))
    benign = max(1, int(args.posts * 0.1 / 3))
    start = time.perf_counter()
    scenario = generate(networks=networks, benign=benign, posts_per_account=POSTS_PER_ACCOUNT)
    generated = time.perf_counter()
    print(
        f"scenario: {len(scenario.posts):,} posts, {len(scenario.accounts):,} accounts, {networks:,} networks ({generated - start:.1f}s)"
    )
    clusters = template_clusters([(p.key, p.text) for p in scenario.posts])
    clustered = time.perf_counter()
    print(
        f"template clustering alone: {len(clusters):,} clusters in {clustered - generated:.1f}s = {len(scenario.posts) / (clustered - generated):,.0f} posts/s"
    )
    result = build_networks(scenario.accounts, scenario.posts)
    built = time.perf_counter()
    print(
        f"networks (selectors + templates + graph): {len(result.networks):,} in {built - clustered:.1f}s = {len(scenario.posts) / (built - clustered):,.0f} posts/s"
    )
    flags = find_reemergence(scenario.accounts, scenario.posts, selectors=result.selectors)
    done = time.perf_counter()
    keys = sorted(scenario.network_of)
    ari = adjusted_rand_score(
        [scenario.network_of[k] for k in keys],
        [result.network_of.get(k, f"alone:{k}") for k in keys],
    )
    benign_joined = sum(b in result.network_of for b in scenario.benign)
    found = sum(
        {f.account: f.earlier for f in flags}.get(n) == o for n, o in scenario.reemerged.items()
    )
    print(f"re-emergence: {found}/{len(scenario.reemerged)} flagged in {done - built:.1f}s")
    print(f"adjusted Rand index {ari:.3f}; benign accounts joined to a network: {benign_joined}")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
