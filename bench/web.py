"""Console page times with 10,000 posts in the database (issue 7: every page under 300 ms of
server time). Builds a database from generated posts through the real pipeline (ingest with
detection, link, review queue, demo programme), serves the console with uvicorn on loopback,
signs in as each role and fetches every page several times; prints the median and the worst
server time (the Server-Timing header) per page.

    python bench/web.py                 # 10,000 posts, 5 fetches a page
    python bench/web.py --posts 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADVERTS = [
    "Boat to Italy from Zuwara this week, {price} euro per person, safe trip guaranteed. WhatsApp +218 91 555 {n:04d}",
    "رحلة بحرية الى ايطاليا من زوارة {price} يورو للشخص مضمونة تواصل واتساب +21891555{n:04d}",
    "UK by lorry from Calais, hidden and safe, {price} pounds, kids half price, message me +33 6 12 34 {n:04d}",
    "گیم یونان با قایق تندرو، قیمت {price} یورو، تماس واتساپ +98 912 555 {n:04d}",
]
OTHER = [
    "Coastguard warns families: smugglers sell deadly boat trips. Call the rescue hotline if in danger.",
    "Ferry tickets Dover to Calais, {price} pounds return, family cabins available.",
    "My cousin arrived in Germany last year, he works in a bakery now.",
    "News: {n} people rescued off Lampedusa overnight, the NGO said.",
]
PLATFORMS = ["x", "facebook", "instagram", "tiktok", "youtube", "telegram"]


WORDS = [
    "boat",
    "trip",
    "italy",
    "greece",
    "uk",
    "calais",
    "zuwara",
    "tripoli",
    "izmir",
    "lorry",
    "truck",
    "safe",
    "fast",
    "guaranteed",
    "tonight",
    "weekend",
    "departure",
    "family",
    "children",
    "discount",
    "price",
    "person",
    "euro",
    "pounds",
    "contact",
    "whatsapp",
    "telegram",
    "message",
    "private",
    "agency",
    "travel",
    "europe",
    "visa",
    "passport",
    "documents",
    "group",
    "seats",
    "places",
    "limited",
    "captain",
    "speedboat",
    "yacht",
    "comfortable",
    "reliable",
    "experienced",
    "arrival",
    "success",
    "photos",
    "customers",
    "friends",
    "bring",
    "reward",
    "cheap",
    "border",
    "night",
    "morning",
    "direct",
]


def generate(path: Path, posts: int, seed: int = 11) -> None:
    """Posts of accounts in groups of eight; each group advertises with its own words and
    number, so networks have a realistic size (not one network of every advertiser)."""
    rng = random.Random(seed)
    accounts = max(posts // 25, 10)
    groups = {g: " ".join(random.Random(g).sample(WORDS, 12)) for g in range(accounts // 8 + 1)}
    with path.open("w", encoding="utf-8") as out:
        for number in range(posts):
            account = rng.randrange(accounts)
            advert = account % 3 == 0 and rng.random() < 0.7
            group = account // 8
            price = rng.choice([1500, 2500, 3000, 4200])
            if advert:
                template = rng.choice(ADVERTS)
                text = f"{groups[group]} " + template.format(price=price, n=group)
            else:
                text = rng.choice(OTHER).format(price=price, n=number)
            out.write(
                json.dumps(
                    {
                        "id": f"p{number}",
                        "platform": PLATFORMS[account % len(PLATFORMS)],
                        "author": f"acct{account}",
                        "text": text,
                        "created_at": f"2026-{1 + number % 11:02d}-{1 + number % 28:02d}T10:00:00Z",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )


def build(folder: Path, posts: int) -> tuple[str, dict[str, str]]:
    from tidewatch.cli import _run_link, ingest_paths
    from tidewatch.demo.programme import seed_programme
    from tidewatch.detect.detector import Detector
    from tidewatch.store import make_engine, migrate

    url = f"sqlite:///{folder / 'web.db'}"
    engine = make_engine(url)
    migrate(engine)
    source = folder / "posts.jsonl"
    generate(source, posts)
    detector = Detector.load(second_stage=False)
    started = time.perf_counter()
    ingest_paths(
        engine,
        [str(source)],
        format="generic",
        collector="bench",
        batch_size=500,
        detector=detector,
    )
    _run_link(engine, detector.version)
    seed_programme(engine, threshold=detector.threshold)
    print(f"built {posts:,} posts in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return url, {}


def serve(url: str) -> tuple[str, uvicorn.Server]:
    from tidewatch.store import make_engine
    from tidewatch.web import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(make_engine(url)), log_level="warning", lifespan="off")
    )
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def signed_in(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    form = client.get("/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "login_token": token, "next": "/"},
    )
    assert answer.status_code == 303, answer.text[:300]
    return client


def pages(url: str) -> dict[str, list[str]]:
    from tidewatch.store import make_engine
    from tidewatch.store import tables as t
    from tidewatch.store.networks import latest_link_run

    engine = make_engine(url)
    with engine.connect() as conn:
        post = conn.execute(
            select(t.detections.c.post_id).where(t.detections.c.label == "advert").limit(1)
        ).scalar()
        account = conn.execute(select(t.accounts.c.id).limit(1)).scalar()
        case = conn.execute(select(t.cases.c.id).limit(1)).scalar()
        referral = conn.execute(
            select(t.referrals.c.id).order_by(t.referrals.c.id).limit(1)
        ).scalar()
        visible = conn.execute(
            select(t.referrals.c.public_id, t.referrals.c.platform).where(
                t.referrals.c.platform.in_(("meta", "x", "tiktok")),
                t.referrals.c.sent_at.is_not(None),
            )
        ).first()
    run = latest_link_run(engine) or {"networks": []}
    network = max(run["networks"], key=lambda n: n["size"])["id"] if run["networks"] else ""
    return {
        "analyst": [
            "/",
            "/queue",
            f"/posts/{post}",
            f"/accounts/{account}",
            "/networks",
            f"/networks/{network}",
            "/cases",
            f"/cases/{case}",
            "/referrals",
            f"/referrals/{referral}",
            f"/referrals/new?case={case}",
        ],
        "auditor": ["/audit"],
        f"{visible.platform}-liaison": ["/portal", f"/portal/referrals/{visible.public_id}"],
    }


def main() -> None:
    from tidewatch.demo.programme import DEMO_PASSWORD

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the database in this folder, or reuse it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "web.db").exists():
            from tidewatch.demo.programme import DEMO_PASSWORD

            url = f"sqlite:///{folder / 'web.db'}"
            passwords = {}
        else:
            url, passwords = build(folder, args.posts)
        base, server = serve(url)
        try:
            print(f"{'page':<42} {'median ms':>10} {'max ms':>8} {'bytes':>8}")
            worst = 0.0
            for person, paths in pages(url).items():
                client = signed_in(base, person, passwords.get(person, DEMO_PASSWORD))
                for path in paths:
                    times, size = [], 0
                    for _ in range(args.repeat):
                        response = client.get(path)
                        assert response.status_code == 200, (path, response.status_code)
                        times.append(float(response.headers["server-timing"].split("dur=")[1]))
                        size = len(response.content)
                    worst = max(worst, max(times))
                    print(
                        f"{path:<42} {statistics.median(times):>10.1f} {max(times):>8.1f} {size:>8,}"
                    )
                client.close()
            print(f"slowest page: {worst:.1f} ms (target < 300 ms)")
        finally:
            server.should_exit = True


if __name__ == "__main__":
    main()
