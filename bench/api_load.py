"""Partner API under load: concurrent partner clients on loopback against PostgreSQL.

    python bench/api_load.py                          # 200 clients, 60 s, 2 server workers
    python bench/api_load.py --duration 10 --clients 50

A fresh PostgreSQL schema gets users, accounts on every platform (ingested through the
loader) and ``--referrals`` referrals drafted, approved (four eyes) and marked sent through
the services, spread over the five recipients, with one partner key each. ``tidewatch serve``
runs in a separate process (``--workers``). Each client speaks for one recipient and loops
until the deadline over a mix of requests: page through its platform's whole list, get one
referral, acknowledge, write a message (now and then an information request), and decide a
random referral (so several clients race to decide the same one; all but one must get 409).

Printed: requests per second, p50/p99 latency overall and per kind, errors (any transport
failure or an unexpected status), then the checks, against the database:
- every list paging saw exactly its platform's referrals, none missing, none twice;
- every referral holds exactly the decisions that were answered 201 (none lost, none doubled),
  and after a final sweep decides the rest, every referral has exactly one;
- every message answered 201 is stored, once.
The exit status is 1 if any error or check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "TIDEWATCH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RECIPIENTS = {
    "meta": ("facebook", "instagram"),
    "x": ("x",),
    "tiktok": ("tiktok",),
    "youtube": ("youtube",),
    "telegram": ("telegram",),
}
DECISIONS = [
    {"no_violation": True},
    {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_account": "DECISION_ACCOUNT_TERMINATED",
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "automated_detection": False,
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "statement_id": "sor-bench",
    },
    {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "territorial_scope": ["FR", "IT"],
    },
]
#: The mix each client draws from (weights).
MIX = {"list": 25, "get": 30, "ack": 15, "message": 15, "decide": 15}


def fresh_schema() -> tuple[str, str]:
    schema = f"tw_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def seed(url: str, referrals: int) -> dict[str, dict[str, object]]:
    """Referrals sent to each recipient, and a partner key for each."""
    from tidewatch.ingest import open_input, read_stream
    from tidewatch.referrals import service as rs
    from tidewatch.store import load, make_engine, migrate
    from tidewatch.store.users import create_api_key, create_user

    engine = make_engine(url)
    migrate(engine)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "accounts.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for platforms in RECIPIENTS.values():
                for platform in platforms:
                    for n in range(3):
                        post = {
                            "id": f"{platform}-{n}",
                            "platform": platform,
                            "author": f"{platform}_seller_{n}",
                            "text": f"Boat to Italy, 2500 euro, WhatsApp +218 91 555 01{n:02d}",
                        }
                        out.write(json.dumps(post) + "\n")
        with open_input(path) as stream:
            load(engine, read_stream(stream, format="generic", collector="bench"), input_name="b")
    with engine.begin() as conn:
        ana = create_user(conn, "ana", "analyst")
        sue = create_user(conn, "sue", "supervisor")
        keys = {r: create_api_key(conn, scope="partner", platform=r) for r in RECIPIENTS}
        accounts = {
            r: list(
                conn.execute(
                    text("select id from accounts where platform = any(:p) order by id"),
                    {"p": list(platforms)},
                ).scalars()
            )
            for r, platforms in RECIPIENTS.items()
        }
    world: dict[str, dict[str, object]] = {r: {"key": keys[r], "ids": []} for r in RECIPIENTS}
    names = list(RECIPIENTS)
    for n in range(referrals):
        recipient = names[n % len(names)]
        draft = rs.draft(engine, ana, recipient=recipient, account_ids=accounts[recipient])
        rs.approve(engine, sue, draft.id)
        with engine.begin() as conn:
            rs.mark_sent(conn, draft.id, actor="bench")
        world[recipient]["ids"].append(draft.public_id)  # type: ignore[attr-defined]
    engine.dispose()
    return world


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.decided: Counter[str] = Counter()  # 201s per referral
        self.messages: Counter[str] = Counter()  # 201s per referral
        self.list_problems: list[str] = []
        self.lists = 0


EXPECTED = {
    "list": {200},
    "get": {200},
    "ack": {200},
    "message": {201, 409},  # 409: an information request on a referral already decided
    "decide": {201, 409},  # 409: another client decided it first
}


async def client(
    http: httpx.AsyncClient,
    recipient: str,
    ids: list[str],
    deadline: float,
    stats: Stats,
    rng: random.Random,
) -> None:
    kinds, weights = list(MIX), list(MIX.values())
    expected = set(ids)
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        public_id = rng.choice(ids)
        path = f"/partner/v1/referrals/{public_id}"
        started = time.perf_counter()
        try:
            if kind == "list":
                seen: list[str] = []
                cursor = None
                while True:
                    params = {"limit": 50} | ({"cursor": cursor} if cursor else {})
                    response = await http.get("/partner/v1/referrals", params=params)
                    if response.status_code != 200:
                        break
                    page = response.json()
                    seen += [r["id"] for r in page["items"]]
                    cursor = page["next_cursor"]
                    if cursor is None:
                        break
                if response.status_code == 200:
                    stats.lists += 1
                    if len(seen) != len(set(seen)) or set(seen) != expected:
                        stats.list_problems.append(
                            f"{recipient}: {len(seen)} listed, {len(set(seen))} distinct, "
                            f"{len(expected - set(seen))} missing, {len(set(seen) - expected)} foreign"
                        )
            elif kind == "get":
                response = await http.get(path)
            elif kind == "ack":
                response = await http.post(f"{path}/acknowledge")
            elif kind == "message":
                request = rng.random() < 0.2
                body = {
                    "body": "Please send the original video.",
                    "kind": "information_request" if request else "message",
                }
                response = await http.post(f"{path}/messages", json=body)
                if response.status_code == 201:
                    stats.messages[public_id] += 1
            else:
                response = await http.post(f"{path}/decisions", json=rng.choice(DECISIONS))
                if response.status_code == 201:
                    stats.decided[public_id] += 1
        except httpx.HTTPError as error:
            stats.errors[f"{kind}: {type(error).__name__}"] += 1
            continue
        stats.latency[kind].append(time.perf_counter() - started)
        stats.statuses[(kind, response.status_code)] += 1
        if response.status_code not in EXPECTED[kind]:
            stats.errors[f"{kind}: HTTP {response.status_code}"] += 1


async def run_clients(
    base: str, world: dict[str, dict[str, object]], clients: int, duration: float, stats: Stats
) -> float:
    names = list(world)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    https = [
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {world[r]['key']}"},
            timeout=60,
            limits=limits,
        )
        for r in names
    ]
    started = time.monotonic()
    deadline = started + duration
    tasks = []
    for n in range(clients):
        recipient = names[n % len(names)]
        ids: list[str] = world[recipient]["ids"]  # type: ignore[assignment]
        http = https[n % len(names)]
        rng = random.Random(n)
        tasks.append(client(http, recipient, ids, deadline, stats, rng))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    for http in https:
        await http.aclose()
    return elapsed


def cpu_seconds(root: int) -> float:
    """User + system CPU of process ``root`` and its children (the server's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if root in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def check_database(url: str, world: dict[str, dict[str, object]], stats: Stats) -> list[str]:
    from tidewatch.store import make_engine
    from tidewatch.store import tables as t

    problems: list[str] = []
    engine = make_engine(url)
    with engine.connect() as conn:
        r = t.referrals.c
        decisions = dict(
            conn.execute(
                select(r.public_id, func.count(t.platform_decisions.c.id))
                .outerjoin(t.platform_decisions, t.platform_decisions.c.referral_id == r.id)
                .group_by(r.public_id)
            ).all()
        )
        messages = dict(
            conn.execute(
                select(r.public_id, func.count(t.referral_messages.c.id))
                .outerjoin(t.referral_messages, t.referral_messages.c.referral_id == r.id)
                .group_by(r.public_id)
            ).all()
        )
    every = [i for w in world.values() for i in w["ids"]]  # type: ignore[attr-defined]
    for public_id in every:
        if stats.decided[public_id] > 1:
            problems.append(f"{public_id}: {stats.decided[public_id]} decisions accepted")
        if decisions.get(public_id, 0) != stats.decided[public_id]:
            problems.append(
                f"{public_id}: {decisions.get(public_id, 0)} decisions stored, "
                f"{stats.decided[public_id]} accepted"
            )
        if messages.get(public_id, 0) != stats.messages[public_id]:
            problems.append(
                f"{public_id}: {messages.get(public_id, 0)} messages stored, "
                f"{stats.messages[public_id]} accepted"
            )
    engine.dispose()
    return problems


def sweep(base: str, world: dict[str, dict[str, object]], stats: Stats) -> None:
    """Decide what the run left undecided, so every referral ends with one decision."""
    for recipient, entry in world.items():
        headers = {"Authorization": f"Bearer {entry['key']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            for public_id in entry["ids"]:  # type: ignore[attr-defined]
                if stats.decided[public_id]:
                    continue
                answer = http.post(
                    f"/partner/v1/referrals/{public_id}/decisions", json={"no_violation": True}
                )
                if answer.status_code == 201:
                    stats.decided[public_id] += 1
                else:
                    stats.errors[f"sweep {recipient}: HTTP {answer.status_code}"] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--referrals", type=int, default=250)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument(
        "--mix",
        default=",".join(f"{k}={v}" for k, v in MIX.items()),
        help="request kinds and their weights, e.g. list=1,get=1 for reads only",
    )
    args = parser.parse_args()
    MIX.clear()
    for part in args.mix.split(","):
        kind, _, weight = part.partition("=")
        if kind not in EXPECTED:
            parser.error(f"--mix: unknown request kind {kind!r}")
        MIX[kind] = int(weight)

    url, schema = fresh_schema()
    server = None
    try:
        started = time.perf_counter()
        world = seed(url, args.referrals)
        print(f"seeded {args.referrals} sent referrals in {time.perf_counter() - started:.1f} s")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = os.environ | {"TIDEWATCH_DATABASE_URL": url}
        command = [sys.executable, "-m", "tidewatch.cli", "serve", "--port", str(port)]
        command += ["--workers", str(args.workers)]
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        base = f"http://127.0.0.1:{port}"
        ready = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/openapi.json", timeout=5)
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > ready:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)

        stats = Stats()
        cpu_before = cpu_seconds(server.pid)
        elapsed = asyncio.run(run_clients(base, world, args.clients, args.duration, stats))
        server_cpu = cpu_seconds(server.pid) - cpu_before
        everything = [v for values in stats.latency.values() for v in values]
        print(
            f"\n{args.clients} clients, {elapsed:.1f} s, {args.workers} server workers, "
            f"{args.referrals} referrals"
        )
        print(f"requests       {len(everything)}  ({len(everything) / elapsed:.0f}/s)")
        print(
            f"server CPU     {server_cpu:.1f} s, {server_cpu / max(len(everything), 1) * 1000:.1f} ms "
            "per request (the server's processes only; PostgreSQL and the clients are apart)"
        )
        print(
            f"latency        p50 {percentile(everything, 0.5) * 1000:.0f} ms   "
            f"p99 {percentile(everything, 0.99) * 1000:.0f} ms"
        )
        for kind, values in sorted(stats.latency.items()):
            print(
                f"  {kind:<8} {len(values):>7}  p50 {percentile(values, 0.5) * 1000:6.0f} ms"
                f"  p99 {percentile(values, 0.99) * 1000:6.0f} ms"
                f"  mean {statistics.fmean(values) * 1000:6.0f} ms"
            )
        print(
            "statuses       "
            + ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(stats.statuses.items()))
        )
        errors = sum(stats.errors.values())
        print(f"errors         {errors}" + (f"  {dict(stats.errors)}" if errors else ""))
        print(f"list pagings   {stats.lists}, problems {len(stats.list_problems)}")
        for problem in stats.list_problems[:5]:
            print(f"  {problem}")
        raced = sum(1 for n in stats.decided.values() if n)
        print(f"decided        {raced} referrals during the run (409s: duplicates refused)")
        sweep(base, world, stats)
        problems = check_database(url, world, stats)
        every = sum(len(w["ids"]) for w in world.values())  # type: ignore[arg-type,misc]
        once = sum(1 for w in world.values() for i in w["ids"] if stats.decided[i] == 1)  # type: ignore[attr-defined]
        print(f"decided once   {once} of {every} referrals after the sweep")
        print(f"db check       {len(problems)} problems (lost or duplicated decisions/messages)")
        for problem in problems[:5]:
            print(f"  {problem}")
        failed = errors or stats.list_problems or problems or once != every
        return 1 if failed else 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        if not args.keep:
            drop_schema(schema)


if __name__ == "__main__":
    sys.exit(main())
