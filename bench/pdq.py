"""PDQ matching against 1,000,000 hashes: the multi-index-hashing index vs brute force.

    python bench/pdq.py [--hashes 1000000] [--queries 1000]

Queries are stored hashes with 0-31 bits flipped (every one has at least one match), so the
index must find them all; the script checks it agrees with brute force on a sample.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from tidewatch.detect.media import PDQIndex, brute_force


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, size=(args.hashes, 32), dtype=np.uint8)
    start = time.perf_counter()
    index = PDQIndex(codes)
    print(f"index of {args.hashes:,} hashes built in {time.perf_counter() - start:.1f}s")
    queries = []
    for _ in range(args.queries):
        bits = np.unpackbits(codes[rng.integers(args.hashes)].copy())
        bits[rng.choice(256, size=int(rng.integers(0, 32)), replace=False)] ^= 1
        queries.append(np.packbits(bits).tobytes().hex())
    index.search(queries[0])
    index_times = []
    for query in queries:
        began = time.perf_counter()
        index.search(query)
        index_times.append(time.perf_counter() - began)
    brute_times = []
    for query in queries[:50]:
        began = time.perf_counter()
        brute_force(codes, query)
        brute_times.append(time.perf_counter() - began)
    agree = all(index.search(q) == brute_force(codes, q) for q in queries[:50])
    index_ms = statistics.median(index_times) * 1000
    brute_ms = statistics.median(brute_times) * 1000
    print(
        f"index: median {index_ms:.3f} ms/query ({1000 / index_ms:,.0f} queries/s), p99 {np.percentile(index_times, 99) * 1000:.3f} ms"
    )
    print(
        f"brute force: median {brute_ms:.1f} ms/query ({1000 / brute_ms:,.0f} queries/s); speed-up {brute_ms / index_ms:.0f}x"
    )
    print(f"index and brute force agree on {min(50, len(queries))} queries: {agree}")


if __name__ == "__main__":
    main()
