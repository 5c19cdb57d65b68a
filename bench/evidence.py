"""Capture of a case with 100 posts and their media, sealed, exported and verified.

    python bench/evidence.py                          # 100 posts, 4 accounts, SQLite, 3 runs
    python bench/evidence.py --posts 300 --database postgres --runs 1
    python bench/evidence.py --no-screenshots --no-live

A loopback server plays the platform: every post has a page (``/p/<n>``, a few KB of HTML)
and one image (``/img/<n>.jpg``, a generated 320x240 PNG: the stored file must come out as
``.png``), every account a profile page. Each run is a fresh database (the store keeps bytes
once by SHA-256, so a second capture into the same one would be cheaper than a first) with the
posts ingested, their media rows and a case holding the accounts; then ``capture_case`` with
screenshots, live pages and media, the redacted export and ``verify_bundle``.

Printed per phase: the median over the runs and each run's figure, in seconds. "store+seal" is
what ``capture_case`` spends outside the producers: loading the case, raw/record/HTML
artifacts, writing every artifact with its custody event, and the seal. Live WARCs hold third
parties' data and cannot be masked, so the redacted export withholds them (listed, with
hashes); "withheld" counts them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import Engine, create_engine, insert, select, text, update

from tidewatch.cases import cases
from tidewatch.cli import ingest_paths
from tidewatch.evidence.bundle import export_capture, verify_bundle
from tidewatch.evidence.capture import Artifact, CaseContent, Producer, capture_case
from tidewatch.evidence.producers import standard_producers
from tidewatch.store import make_engine, migrate
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, create_user

POSTGRES_URL = os.environ.get(
    "TIDEWATCH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ADVERTS = [
    "Boat to Italy from Zuwara this week, {price} euro per person, safe trip. WhatsApp +218 91 555 {n:04d}",
    "UK by lorry from Calais, hidden and safe, {price} pounds, kids half price, message +33 6 12 34 {n:04d}",
    "رحلة بحرية الى ايطاليا من زوارة هذا الأسبوع {price} يورو للشخص تواصل واتساب +21891555{n:04d}",
    "Dinghy crossing tonight, weather good, {price} per seat, life jackets included. Telegram @trip{n}",
]


def image(number: int) -> bytes:
    rng = np.random.default_rng(number)
    gradient = np.linspace(0, 255, 320, dtype=np.float64)[None, :, None]
    pixels = (gradient + rng.normal(0, 40, size=(240, 320, 3))).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class Platform(BaseHTTPRequestHandler):
    images: dict[int, bytes] = {}  # noqa: RUF012 - filled once before the server starts

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts[0] == "img" and parts[-1].split(".")[0].isdigit():
            body, kind = self.images[int(parts[-1].split(".")[0])], "image/png"
        elif parts[0] in ("p", "u"):
            filler = "<p>Comment by someone else: when is the next trip?</p>" * 40
            body = (
                f"<html><head><title>{self.path}</title></head><body><article>post {self.path}"
                f"</article>{filler}</body></html>"
            ).encode()
            kind = "text/html; charset=utf-8"
        else:
            body, kind = b"not found", "text/plain"
        self.send_response(200 if kind != "text/plain" else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def timed(name: str, producer: Producer, clock: dict[str, float]) -> Producer:
    def produce(content: CaseContent) -> Iterable[Artifact]:
        start = time.perf_counter()
        made = list(producer(content))
        clock[name] = time.perf_counter() - start
        return made

    return produce


def seed(engine: Engine, folder: Path, site: str, posts: int, accounts: int) -> tuple[int, Actor]:
    """Posts, their media rows and a case holding the accounts; the case id and its analyst."""
    rows = [
        {
            "id": f"x-{n}",
            "platform": "x",
            "author": f"trip_acc_{n % accounts}",
            "text": ADVERTS[n % len(ADVERTS)].format(price=1500 + 50 * (n % 20), n=n),
            "created_at": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00Z",
            "url": f"{site}/p/{n}",
        }
        for n in range(posts)
    ]
    path = folder / "case.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    reports, code = ingest_paths(
        engine, [str(path)], format="generic", collector="bench", batch_size=500
    )
    if code != 0:
        raise SystemExit(f"ingest failed: {reports}")
    with engine.begin() as conn:
        for post_id, native_id, source in conn.execute(
            select(t.posts.c.id, t.posts.c.native_id, t.posts.c.first_source_id)
        ):
            number = int(native_id.split("-")[1])
            conn.execute(
                insert(t.media).values(
                    post_id=post_id,
                    media_key="photo-1",
                    kind="photo",
                    url=f"{site}/img/{number}.jpg",
                    first_source_id=source,
                )
            )
        for k in range(accounts):
            conn.execute(
                update(t.accounts)
                .where(t.accounts.c.native_id == f"trip_acc_{k}")
                .values(url=f"{site}/u/trip_acc_{k}")
            )
        analyst = create_user(conn, "bench", "analyst")
    keys = [("x", f"trip_acc_{k}") for k in range(accounts)]
    return cases.open_case(engine, analyst, "Bench case", accounts=keys), analyst


def one_run(args: argparse.Namespace, site: str, folder: Path) -> dict[str, Any]:
    database: str
    schema = ""
    if args.database == "postgres":
        schema = f"tw_bench_{uuid.uuid4().hex[:10]}"
        with create_engine(POSTGRES_URL).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        database = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    else:
        database = f"sqlite:///{folder / 'tidewatch.db'}"
    engine = make_engine(database)
    try:
        migrate(engine)
        start = time.perf_counter()
        case_id, actor = seed(engine, folder, site, args.posts, args.accounts)
        seeded = time.perf_counter() - start
        clock: dict[str, float] = {}
        names = [
            n
            for n, on in (
                ("screenshots", args.screenshots),
                ("live", args.live),
                ("media", args.media),
            )
            if on
        ]
        producers = [
            timed(name, producer, clock)
            for name, producer in zip(
                names,
                standard_producers(args.screenshots, args.live, args.media, ["127.0.0.1"]),
                strict=True,
            )
        ]
        start = time.perf_counter()
        capture_id = capture_case(engine, actor, case_id, producers=producers)
        captured = time.perf_counter() - start
        out = folder / "bundle.zip"
        start = time.perf_counter()
        exported = export_capture(engine, actor, capture_id, out)
        export_s = time.perf_counter() - start
        start = time.perf_counter()
        report = verify_bundle(out)
        verify_s = time.perf_counter() - start
        if not report.ok:
            raise SystemExit(f"the bundle does not verify: {report.problem}")
        with engine.connect() as conn:
            sizes = conn.execute(
                select(t.artifacts.c.size).where(t.artifacts.c.capture_id == capture_id)
            ).scalars()
            stored = list(sizes)
        phases = {name: clock[name] for name in names}
        phases["store+seal"] = captured - sum(phases.values())
        phases["capture"] = captured
        phases["export"] = export_s
        phases["verify"] = verify_s
        phases["total"] = captured + export_s + verify_s
        return {
            "seed": seeded,
            "phases": phases,
            "artifacts": len(stored),
            "artifact_bytes": sum(stored),
            "exported_files": report.files,
            "withheld": len(exported["withheld"]),
            "bundle_bytes": out.stat().st_size,
        }
    finally:
        engine.dispose()
        if schema:
            with create_engine(POSTGRES_URL).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--no-screenshots", dest="screenshots", action="store_false")
    parser.add_argument("--no-live", dest="live", action="store_false")
    parser.add_argument("--no-media", dest="media", action="store_false")
    args = parser.parse_args()

    Platform.images = {n: image(n) for n in range(args.posts)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Platform)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    print(
        f"{args.posts} posts, {args.accounts} accounts, {args.database}; screenshots={args.screenshots} "
        f"live={args.live} media={args.media}; load average {os.getloadavg()[0]:.2f}"
    )
    results = []
    try:
        for run in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="tw-bench-evidence-") as folder:
                os.environ["TIDEWATCH_EVIDENCE_KEY"] = str(Path(folder) / "unit.pem")
                results.append(one_run(args, site, Path(folder)))
            print(f"run {run + 1}: {results[-1]['phases']['total']:.2f} s")
    finally:
        server.shutdown()
    print(f"\n{'phase':<12} {'median s':>9}   runs")
    for phase in results[0]["phases"]:
        values = [r["phases"][phase] for r in results]
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{phase:<12} {statistics.median(values):>9.2f}   {runs}")
    seeds = [r["seed"] for r in results]
    print(f"{'(seed)':<12} {statistics.median(seeds):>9.2f}   not part of the capture")
    last = results[-1]
    print(
        f"\nartifacts {last['artifacts']} ({last['artifact_bytes'] / 1e6:.2f} MB stored); "
        f"bundle {last['bundle_bytes'] / 1e6:.2f} MB with {last['exported_files']} files, "
        f"{last['withheld']} withheld (live WARCs: third parties' data)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
