"""Ingest throughput and memory: generated X API v2 pages (twarc2 shape) into SQLite and PostgreSQL.

    python bench/ingest.py                      # 1,000,000 posts, both databases
    python bench/ingest.py --posts 200000 --sizes 50000,200000 --databases sqlite

Each run is a fresh database and a separate ``tidewatch ingest`` process, so the figures
include start-up, parsing, detection of the format and the committed batches. ``peak MiB`` is
the largest resident set of the ingest and its parsing workers together (sampled every 50 ms);
``max proc`` the largest single process. ``cpu us/post`` is the CPU time of all of them per
post: on a shared machine it says more than the wall clock, which waits for other work.
Several input sizes show whether memory stays flat. ``--repeat N`` runs each ingest N times and
adds a median row. The host check before and after times a fixed loop of plain Python: on a
shared machine the same work takes up to half as long again from one hour to the next, and
this says which kind of hour the figures come from.
Pages are shaped like tests/fixtures/x_twitter_v2/twarc2_*.jsonl: 100 tweets a page with
entities, public_metrics, referenced tweets, includes.users and the __twarc envelope.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "TIDEWATCH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PER_PAGE = 100
WORDS = [
    "boat",
    "trip",
    "uk",
    "calais",
    "tonight",
    "safe",
    "price",
    "per",
    "person",
    "whatsapp",
    "call",
    "now",
    "guaranteed",
    "departure",
    "news",
    "police",
    "report",
    "coastguard",
    "rescue",
    "ferry",
    "ticket",
    "family",
    "children",
    "discount",
    "قارب",
    "ايطاليا",
    "سعر",
    "للشخص",
    "تواصل",
    "خاص",
    "بلم",
    "یونان",
    "قیمت",
    "گیم",
]


#: Post ``number`` was made this long after START_MS: 1,000,000 posts span a year.
STEP_MS = 31_536
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
#: Where X's ids count milliseconds from (a "snowflake" id is the time it was made, in its
#: upper bits, then a machine and a sequence number).
SNOWFLAKE_EPOCH_MS = 1_288_834_974_657


def made_at_ms(number: int) -> int:
    return START_MS + number * STEP_MS


def tweet_id(number: int) -> str:
    """The id X would give post ``number``: its time, as every real id in the fixtures carries
    it, so ids and times rise together as in a real archive."""
    return str(((made_at_ms(number) - SNOWFLAKE_EPOCH_MS) << 22) | (number % 4096))


def tweet(rng: random.Random, number: int, author: str) -> dict[str, object]:
    words = rng.choices(WORDS, k=rng.randint(8, 30))
    phone = f"+44 7700 900{number % 1000:03d}"
    body = " ".join(words) + f" {phone}"
    made = datetime.fromtimestamp(made_at_ms(number) / 1000, UTC)
    record_id = tweet_id(number)
    record: dict[str, object] = {
        "id": record_id,
        "text": body,
        "author_id": author,
        "created_at": made.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "lang": "en",
        "conversation_id": record_id,
        "edit_history_tweet_ids": [record_id],
        "possibly_sensitive": False,
        "reply_settings": "everyone",
        "source": "Twitter for Android",
        "public_metrics": {
            "retweet_count": rng.randint(0, 50),
            "reply_count": rng.randint(0, 20),
            "like_count": rng.randint(0, 500),
            "quote_count": rng.randint(0, 5),
        },
        "entities": {
            "hashtags": [{"start": 0, "end": 5, "tag": "uk"}],
            "urls": [
                {
                    "start": 10,
                    "end": 33,
                    "url": "https://t.co/abcdefghij",
                    "expanded_url": f"https://wa.me/447700900{number % 1000:03d}",
                    "display_url": "wa.me/…",
                }
            ],
        },
    }
    if number % 10 == 0:
        record["referenced_tweets"] = [{"type": "replied_to", "id": tweet_id(number - 1)}]
    return record


def user(author: str, number: int) -> dict[str, object]:
    return {
        "id": author,
        "username": f"travel_{author[-6:]}",
        "name": f"Travel Agency {number}",
        "description": "Trips to Europe. Contact on WhatsApp",
        "created_at": "2021-04-07T20:50:54.000Z",
        "verified": False,
        "protected": False,
        "public_metrics": {
            "followers_count": number % 5000,
            "following_count": 4,
            "tweet_count": 2,
            "listed_count": 0,
        },
    }


def generate(path: Path, posts: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    accounts = max(posts // 20, 1)
    with path.open("w", encoding="utf-8") as out:
        for page_start in range(0, posts, PER_PAGE):
            data, users = [], {}
            for number in range(page_start, min(page_start + PER_PAGE, posts)):
                account = rng.randrange(accounts)
                author = str(1_379_899_464_345_923_590 + account)
                data.append(tweet(rng, number, author))
                users[author] = user(author, account)
            page = {
                "data": data,
                "includes": {"users": list(users.values())},
                "meta": {
                    "newest_id": data[0]["id"],
                    "oldest_id": data[-1]["id"],
                    "result_count": len(data),
                },
                "__twarc": {
                    "url": "https://api.twitter.com/2/tweets/search/all?query=bench",
                    "version": "2.14.0",
                    "retrieved_at": "2024-12-01T00:00:00+00:00",
                },
            }
            out.write(json.dumps(page, ensure_ascii=False) + "\n")


def fresh_postgres_url() -> tuple[str, str]:
    schema = f"tw_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return total


def run_ingest(path: Path, url: str) -> tuple[float, float, int, int]:
    """Seconds, CPU seconds, peak RSS of the process tree and of one process (bytes) of one
    ``tidewatch ingest`` run."""
    command = [sys.executable, "-m", "tidewatch.cli", "ingest", str(path), "--database-url", url]
    # Migrate first, so schema creation is not counted as ingest time.
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"from tidewatch.store import make_engine, migrate; migrate(make_engine({url!r}))",
        ],
        check=True,
    )
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_tree = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak_tree = max(peak_tree, _tree_rss(process.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"ingest failed: {process.stderr.read().decode()[-2000:] if process.stderr else ''}"
        )
    # wait4 counts the workers too: the ingest process waited for them.
    return elapsed, usage.ru_utime + usage.ru_stime, peak_tree, usage.ru_maxrss * 1024


#: The host check's loop: 0.57 to 0.69 s on this project's machine on 2026-12-01.
HOST_CHECK_ADDITIONS = 20_000_000


def host_check() -> float:
    """Seconds a fixed loop of additions takes here: the host's speed, not the code's."""
    start = time.perf_counter()
    total = 0
    for number in range(HOST_CHECK_ADDITIONS):
        total += number
    return time.perf_counter() - start


def ingest_once(
    database: str, source: Path, folder: str, size: int
) -> tuple[float, float, int, int]:
    """One ``tidewatch ingest`` of ``source`` into a new database (see :func:`run_ingest`)."""
    if database == "sqlite":
        db_path = Path(folder) / f"bench_{size}.db"
        try:
            return run_ingest(source, f"sqlite:///{db_path}")
        finally:
            db_path.unlink(missing_ok=True)
            for suffix in ("-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    url, schema = fresh_postgres_url()
    try:
        return run_ingest(source, url)
    finally:
        drop_schema(schema)


def row(label: str, size: int, seconds: float, cpu: float, peak: float, largest: float) -> str:
    return (
        f"{label:<10} {size:>10,} {seconds:>9.1f} {size / seconds:>9,.0f}"
        f" {cpu / size * 1e6:>12.0f} {peak / 2**20:>9.0f} {largest / 2**20:>9.0f}"
        f" {os.getloadavg()[0]:>5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument(
        "--sizes", default="", help="comma-separated smaller sizes to show memory is flat"
    )
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each ingest (median row)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    databases = args.databases.split(",")
    unknown = sorted(set(databases) - {"sqlite", "postgres"})
    if unknown:
        parser.error(f"--databases: unknown {', '.join(unknown)} (choose sqlite, postgres)")
    sizes = sorted({int(s) for s in args.sizes.split(",") if s} | {args.posts})
    print(f"load average at start: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    print(f"host check before: {host_check():.2f} s for {HOST_CHECK_ADDITIONS:,} additions")
    print(
        f"{'database':<10} {'posts':>10} {'seconds':>9} {'posts/s':>9} {'cpu us/post':>12}"
        f" {'peak MiB':>9} {'max proc':>9} {'load':>5}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            source = Path(folder) / f"x_v2_{size}.jsonl"
            generate(source, size)
            for database in databases:
                runs = []
                for _ in range(args.repeat):
                    runs.append(ingest_once(database, source, folder, size))
                    print(row(database, size, *runs[-1]), flush=True)
                if args.repeat > 1:
                    medians = [statistics.median(run[i] for run in runs) for i in range(4)]
                    print(row("  median", size, *medians), flush=True)
            source.unlink()
    print(f"host check after: {host_check():.2f} s")


if __name__ == "__main__":
    main()
