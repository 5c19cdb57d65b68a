"""The Spark jobs against one process: scan and link throughput with local[1] and local[2].

    python bench/scale.py                                  # 10,000,000 posts to scan, link at 1,000,000
    python bench/scale.py --scan 200000 --link 50000 --single 200000

Posts are corpus texts (data/corpus) at 10% adverts with a random suffix, written as generic
JSON lines with a platform, an author (one of posts/5 accounts) and a time. Each job runs
as a command in its own process (`tidewatch scale scan|link --master local[N]`, first stage
only, as `tidewatch scan --first-stage-only`), timed end to end: start-up included, so the
small sizes show where Spark's fixed cost is paid back. The single-process figures are
`tidewatch scan` to /dev/null and the link stage (build_networks) on the scan's posts.

Peak memory is sampled every 0.2 s from /proc: the driver's Python process and the JVM
(which, in local mode, also runs the executors' JVM side), each figure the largest seen; the
Python workers are summed. Prints one line per measurement; quote medians of several runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIDEWATCH = [sys.executable, "-m", "tidewatch.cli"]


def generate(path: Path, count: int, seed: int = 3) -> None:
    from tidewatch.detect.train import load_corpus

    rows = load_corpus(ROOT / "data" / "corpus")
    adverts = [r["text"] for r in rows if r["label"] == "advert"]
    others = [r["text"] for r in rows if r["label"] != "advert"]
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    platforms = ("x", "facebook", "tiktok", "telegram")
    accounts = max(1, count // 5)
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            text = rng.choice(adverts) if rng.random() < 0.1 else rng.choice(others)
            record = {
                "id": str(number),
                "platform": platforms[number % len(platforms)],
                "author": f"a{rng.randrange(accounts)}",
                "text": f"{text} #{rng.randrange(10**6)}",
                "created_at": (start + timedelta(minutes=rng.randrange(60 * 24 * 90))).isoformat(),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            frontier.append(child)
    return found


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def run(command: list[str], stdout: int | None = None) -> tuple[float, dict[str, float], str]:
    """(wall seconds, peak MiB of driver / jvm / workers, stdout) of one command."""
    peaks = {"driver": 0.0, "jvm": 0.0, "workers": 0.0}
    with tempfile.TemporaryFile(mode="w+") as errors:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=stdout or subprocess.PIPE, stderr=errors, text=True
        )
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peaks["driver"] = max(peaks["driver"], _rss_kib(process.pid) / 1024)
                workers = 0.0
                for pid in _descendants(process.pid):
                    if _name(pid) == "java":
                        peaks["jvm"] = max(peaks["jvm"], _rss_kib(pid) / 1024)
                    else:
                        workers += _rss_kib(pid) / 1024
                peaks["workers"] = max(peaks["workers"], workers)
                time.sleep(0.2)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        out, _ = process.communicate()
        done.set()
        thread.join()
        wall = time.perf_counter() - start
        if process.returncode not in (0, 1) or (stdout is None and not (out or "").strip()):
            # Spark's cause (an OutOfMemoryError, say) is among its log's first errors.
            errors.seek(0)
            causes = [line for line in errors if "ERROR" in line or "Error:" in line][:5]
            raise SystemExit(
                f"{' '.join(command)} failed after {wall:.0f}s, exit code "
                f"{process.returncode}:\n" + "".join(causes)
            )
    return wall, peaks, out or ""


def report(name: str, posts: int, wall: float, peaks: dict[str, float]) -> None:
    print(
        f"{name}: {posts:,} posts in {wall:.1f}s = {posts / wall:,.0f} posts/s; peak MiB "
        f"driver {peaks['driver']:,.0f}, JVM {peaks['jvm']:,.0f}, Python workers {peaks['workers']:,.0f}",
        flush=True,
    )


def single_link(scan_out: Path) -> tuple[float, int]:
    """build_networks on the scan's posts, in this process: (seconds, networks)."""
    import pyarrow.dataset as ds

    from tidewatch.link.networks import PostFacts, build_networks

    start = time.perf_counter()
    table = ds.dataset(str(scan_out / "detections"), partitioning="hive").to_table(
        columns=["platform", "id", "account", "text", "lang", "score", "label", "created_at"]
    )
    posts = [
        PostFacts(
            key=(r["platform"], r["id"]),
            account=(r["platform"], r["account"] or f"unknown:{r['id']}"),
            text=r["text"],
            lang=r["lang"],
            score=r["score"],
            label=r["label"],
            created_at=r["created_at"],
        )
        for r in table.to_pylist()
    ]
    del table
    result = build_networks([], sorted(posts, key=lambda p: p.key))
    return time.perf_counter() - start, len(result.networks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scan", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--link", type=int, default=1_000_000)
    parser.add_argument(
        "--single", type=int, default=1_000_000, help="largest size for `tidewatch scan`"
    )
    parser.add_argument(
        "--cores", type=int, nargs="*", default=[1, 2], help="Spark cores; none: one process only"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tidewatch-bench-scale-"))
    env_load = os.getloadavg()
    print(f"load average at start: {env_load[0]:.2f} {env_load[1]:.2f} {env_load[2]:.2f}")
    try:
        for size in sorted({*args.scan, args.link}):
            source = work / f"posts-{size}.jsonl"
            generate(source, size)
            if size <= args.single:
                with open(os.devnull, "w") as sink:
                    wall, peaks, _ = run(
                        [*TIDEWATCH, "scan", "--first-stage-only", str(source)],
                        stdout=sink.fileno(),
                    )
                report("tidewatch scan (one process)", size, wall, peaks)
            for cores in args.cores:
                out = work / f"scan-{size}-{cores}"
                wall, peaks, text = run(
                    [
                        *TIDEWATCH,
                        "scale",
                        "scan",
                        "--master",
                        f"local[{cores}]",
                        "--first-stage-only",
                        str(source),
                        str(out),
                    ]
                )
                report(f"tidewatch scale scan local[{cores}]", size, wall, peaks)
                if size == args.link:
                    link_out = work / f"link-{size}-{cores}"
                    wall, peaks, text = run(
                        [
                            *TIDEWATCH,
                            "scale",
                            "link",
                            "--master",
                            f"local[{cores}]",
                            str(out),
                            str(link_out),
                        ]
                    )
                    networks = json.loads(text.strip().splitlines()[-1])["networks"]
                    report(
                        f"tidewatch scale link local[{cores}] ({networks} networks)",
                        size,
                        wall,
                        peaks,
                    )
                    shutil.rmtree(link_out, ignore_errors=True)
                if size == args.link and cores == args.cores[-1]:
                    seconds, networks = single_link(out)
                    print(
                        f"link stage (one process, build_networks): {size:,} posts in "
                        f"{seconds:.1f}s = {size / seconds:,.0f} posts/s ({networks} networks)",
                        flush=True,
                    )
                shutil.rmtree(out, ignore_errors=True)
            source.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    end_load = os.getloadavg()
    print(f"load average at end: {end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f}")


if __name__ == "__main__":
    main()
