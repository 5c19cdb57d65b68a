"""A programme simulator: a realistic history of referrals, driven through the real code.

From December 2021 to the end date, month by month: smuggling networks post adverts (generic
JSONL, ingested and scanned by the real detector), analysts claim and decide the review items,
open a case per network, capture and seal its evidence, draft a referral to the network's
platform; a different supervisor approves it; the outbox worker delivers it through the partner
inbox channel; the platform's liaison acknowledges it and answers in the DSA statement-of-reasons
vocabulary after a realistic delay. Nothing is written straight into tables: every row comes
from the service that owns it, with the simulated time passed as ``now``.

Volumes are calibrated on the NCA's published figures (accounts removed: about 5,600 in 2023,
over 8,000 in 2024, more than 16,500 in total by the end of 2024, more than 90% of referrals
actioned) and carried on with slower growth after 2024. Seeded: the same seed and scale give
the same history.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, event, select

from tidewatch.cases import cases, queue
from tidewatch.channels.config import ChannelSet
from tidewatch.channels.outbox import deliver_one
from tidewatch.referrals import service
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, Role, create_user

START = date(2021, 12, 1)
END = date(2026, 11, 30)

#: Accounts the platforms removed per calendar year at scale 1, chosen so that every published
#: statement of the NCA holds within 3%: about 5,600 in 2023 (5,735: +2.4%), over 8,000 in
#: 2024 (8,055), +40% (+40.5%), over 16,500 by the end of 2024 (16,790: +1.8%). The band is
#: narrow (with 2024 just over 8,000, +40% within 3% puts 2023 at 5,701-5,768). After 2024
#: the published growth goes on (+40% a year: our assumption, nothing is published), which
#: makes about 50,000 accounts referred by 2026-11-30.
REMOVED_PER_YEAR = {2021: 150, 2022: 2_850, 2023: 5_735, 2024: 8_055, 2025: 11_280, 2026: 15_790}
#: Crossings peak in summer, and adverts with them.
SEASON = (0.70, 0.65, 0.80, 0.90, 1.05, 1.20, 1.30, 1.35, 1.25, 1.05, 0.90, 0.85)
#: Share of networks per recipient, by year (TikTok grows, X shrinks).
PLATFORMS = {
    2021: {"meta": 0.55, "tiktok": 0.20, "x": 0.18, "youtube": 0.07},
    2022: {"meta": 0.52, "tiktok": 0.24, "x": 0.17, "youtube": 0.07},
    2023: {"meta": 0.48, "tiktok": 0.30, "x": 0.15, "youtube": 0.07},
    2024: {"meta": 0.45, "tiktok": 0.35, "x": 0.13, "youtube": 0.07},
    2025: {"meta": 0.44, "tiktok": 0.37, "x": 0.12, "youtube": 0.07},
    2026: {"meta": 0.43, "tiktok": 0.39, "x": 0.11, "youtube": 0.07},
}
#: What platforms answer, per referral (removed, restricted, geo-blocked, no violation, none).
#: Actioned (the first three) 92%: "more than 90%", and within 3% of it.
OUTCOMES = (
    ("removed", 0.895),
    ("restricted", 0.015),
    ("geo_blocked", 0.01),
    ("no_violation", 0.065),
    ("silence", 0.015),
)
#: Of removed referrals with several accounts, the share where one account is kept up.
PARTIAL = 0.08
#: Median hours from delivery to decision per recipient in 2022; they get faster each year.
MEDIAN_HOURS = {"meta": 30.0, "tiktok": 20.0, "x": 70.0, "youtube": 45.0}
#: Accounts per network (weights for 1..6).
NETWORK_SIZE = (0.30, 0.25, 0.20, 0.12, 0.08, 0.05)
#: Expected share of referred accounts that end removed (for sizing the volumes).
_MEAN_SIZE = sum(n * w for n, w in enumerate(NETWORK_SIZE, 1))
# A partial removal keeps one account of a network of two or more.
_REMOVED_SHARE = OUTCOMES[0][1] * (1 - PARTIAL * (1 - NETWORK_SIZE[0]) / _MEAN_SIZE)
DOUBLE_REVIEW = 0.05
SECOND_REVIEWER_AGREES = 0.93
REEMERGE = 0.12

LANGS: dict[str, tuple[tuple[str, float], ...]] = {
    "channel": (("en", 0.25), ("ar", 0.2), ("sq", 0.2), ("vi", 0.15), ("fr", 0.1), ("fa", 0.1)),
    "central_mediterranean": (("ar", 0.6), ("en", 0.3), ("fr", 0.1)),
    "eastern_mediterranean": (("tr", 0.3), ("ar", 0.3), ("fa", 0.25), ("en", 0.15)),
}
ROUTES = (("channel", 0.45), ("central_mediterranean", 0.35), ("eastern_mediterranean", 0.20))
TEMPLATES = {
    (
        "en",
        "channel",
    ): "Small boat from {dep} to UK this week, {price} pounds per person, safe trip guaranteed. WhatsApp {phone}",
    (
        "en",
        "central_mediterranean",
    ): "Boat to Italy from {dep} this week, {price} euro per person, safe trip guaranteed. WhatsApp {phone}",
    (
        "en",
        "eastern_mediterranean",
    ): "Greece from {dep} by speedboat, {price} euro, documents included, call {phone}",
    (
        "ar",
        "central_mediterranean",
    ): "رحلة بحرية الى ايطاليا من {dep} هذا الأسبوع {price} يورو للشخص مضمونة تواصل واتساب {phone}",
    (
        "ar",
        "channel",
    ): "الطريق الى بريطانيا من {dep} بالقارب هذا الأسبوع {price} جنيه للشخص مضمونة تواصل واتساب {phone}",
    (
        "ar",
        "eastern_mediterranean",
    ): "رحلة الى اليونان من {dep} بالقارب السريع {price} يورو للشخص مضمونة تواصل واتساب {phone}",
    ("sq", "channel"): "Rrugë për në Angli me kamion nga {dep}, {price} paund, WhatsApp {phone}",
    ("vi", "channel"): "Qua Anh bằng xe tải từ {dep}, giá {price} bảng, liên hệ Zalo {phone}",
    (
        "tr",
        "eastern_mediterranean",
    ): "Yunanistan'a bot ile geçiş {dep} çıkışlı, kişi başı {price} euro, garantili, WhatsApp {phone}",
    (
        "fr",
        "channel",
    ): "Passage en Angleterre depuis {dep} en bateau cette semaine, {price} euros par personne, sûr et garanti, WhatsApp {phone}",
    (
        "fr",
        "central_mediterranean",
    ): "Traversée vers l'Italie depuis {dep} cette semaine, {price} euros par personne, départ garanti, WhatsApp {phone}",
    (
        "fa",
        "channel",
    ): "سفر به انگلیس از {dep} با قایق این هفته، {price} پوند برای هر نفر، تضمینی، واتساپ {phone}",
    (
        "fa",
        "eastern_mediterranean",
    ): "سفر قاچاق از {dep} به یونان با قایق این هفته، {price} یورو برای هر نفر، تضمینی، واتساپ {phone}",
}
DEPARTURES = {
    "channel": ("Calais", "Dunkirk", "Gravelines", "Boulogne"),
    "central_mediterranean": ("Zuwara", "Sabratha", "Tripoli", "Sfax"),
    "eastern_mediterranean": ("Izmir", "Bodrum", "Ayvalik", "Cesme"),
}
DEPARTURES_ARABIC_SCRIPT = {
    "channel": ("كاليه", "دنكيرك"),
    "central_mediterranean": ("زوارة", "صبراتة"),
    "eastern_mediterranean": ("تركيا", "ازمير"),
}
#: Meta's referrals are about Facebook and Instagram accounts.
META_PLATFORMS = (("facebook", 0.6), ("instagram", 0.4))


class _OneTransaction:
    """An engine for the services that hands every ``begin()`` and ``connect()`` the same
    connection, inside one transaction the simulator commits.

    The simulator calls the services one after another, never concurrently, so what each
    step reads is what the steps before it wrote, as with separate commits; a month then
    commits once instead of some fifteen times per referral (every commit rewrites the
    audit head's and the indexes' pages). The services' own checks and audit entries are
    unchanged. Not for the loader, which begins its own batches on its connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self.conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self.conn


def scratch_sqlite(engine: Engine) -> None:
    """Make a SQLite simulation database cheaper to write: no sync to disk, a larger page
    cache. Only for a scratch database (a crash may lose or corrupt it, and a simulation is
    rerun from its seed, not recovered); PostgreSQL engines are left as they are."""
    if engine.dialect.name != "sqlite":
        return

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-131072")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # pooled connections were opened without them


@dataclass(frozen=True)
class Network:
    key: str
    recipient: str
    route: str
    lang: str
    phone: str
    accounts: tuple[tuple[str, str], ...]  # (platform, native id)
    at: datetime  # when the unit refers it


@dataclass
class SimulationReport:
    months: int = 0
    posts: int = 0
    review_decisions: int = 0
    double_reviewed: int = 0
    networks: int = 0
    referrals: int = 0
    accounts_referred: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Quota:
    """Draws that keep to their shares: each draw is the value whose count lags its share of
    the draws so far the most (ties to the first listed). Over any stretch of draws the
    counts stay within one of their shares, where independent draws wander by the square
    root of the count; the order of values still interleaves."""

    def __init__(self, shares: Sequence[tuple[Any, float]]) -> None:
        self.shares = tuple(shares)
        self.counts = [0] * len(self.shares)
        self.drawn = 0

    def next(self) -> Any:
        self.drawn += 1
        lag = [
            share * self.drawn - count
            for (_, share), count in zip(self.shares, self.counts, strict=True)
        ]
        index = lag.index(max(lag))
        self.counts[index] += 1
        return self.shares[index][0]


def _pick(rng: random.Random, weighted: Any) -> Any:
    items = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


def monthly_accounts(scale: float, start: date = START, end: date = END) -> dict[date, int]:
    """Accounts to refer per month: each year's removal target spread by season over the
    months simulated, divided by the share that ends removed."""
    months = []
    cursor = date(start.year, start.month, 1)
    while cursor <= end:
        months.append(cursor)
        cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
    plan: dict[date, int] = {}
    for year in sorted({m.year for m in months}):
        in_year = [m for m in months if m.year == year]
        # A target is for a whole year: a year cut short by the end date gets its share.
        weights = {m: SEASON[m.month - 1] for m in in_year}
        total = float(REMOVED_PER_YEAR.get(year, REMOVED_PER_YEAR[max(REMOVED_PER_YEAR)]))
        if year != 2021:
            total *= sum(weights.values()) / sum(SEASON)
        referred = total * scale / _REMOVED_SHARE
        spread = sum(weights.values())
        for m in in_year:
            plan[m] = round(referred * weights[m] / spread)
    return plan


class Simulator:
    def __init__(
        self,
        engine: Engine,
        *,
        scale: float = 1.0,
        seed: int = 2021,
        start: date = START,
        end: date = END,
        workdir: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.scale = scale
        self.rng = random.Random(seed)
        self.start, self.end = start, end
        self.workdir = workdir
        self.progress = progress or (lambda _message: None)
        self.report = SimulationReport()
        #: What the services are given: the engine, or within a month its one transaction.
        self.db = engine
        self._serial = 0
        self._carry = 0
        # Outcomes, network sizes and partial removals are drawn by quota, not independently:
        # the published figures are calibrated within a few percent, and independent draws
        # moved single years by as much (see Quota).
        self._outcomes = Quota(OUTCOMES)
        self._sizes = Quota(tuple(enumerate(NETWORK_SIZE, start=1)))
        self._partial = Quota(((True, PARTIAL), (False, 1 - PARTIAL)))
        self._pending_reemergence: list[tuple[date, Network]] = []
        self.channels = ChannelSet()
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        # Evidence is signed with a key of the simulation's own, never the unit's.
        self.signing_key = Ed25519PrivateKey.from_private_bytes(self.rng.randbytes(32))

    # --- people ---------------------------------------------------------------------------

    def _people(self) -> None:
        with self.engine.begin() as conn:
            existing = set(conn.execute(select(t.users.c.username)).scalars())

            def user(name: str, role: str, platform: str | None = None) -> Actor:
                if name in existing:
                    return Actor(name, Role(role), platform)
                return create_user(conn, name, role, platform=platform)

            self.analysts = [user(f"sim-analyst-{n}", "analyst") for n in range(1, 5)]
            self.supervisors = [user(f"sim-supervisor-{n}", "supervisor") for n in range(1, 3)]
            self.liaisons = {
                r: user(f"sim-liaison-{r}", "liaison", r)
                for r in ("meta", "tiktok", "x", "youtube")
            }

    # --- the history ----------------------------------------------------------------------

    def run(self) -> SimulationReport:
        import time

        began = time.perf_counter()
        self._people()
        from tidewatch.detect.detector import Detector

        self.detector = Detector.load(second_stage=False)
        plan = monthly_accounts(self.scale, self.start, self.end)
        with tempfile.TemporaryDirectory(dir=self.workdir) as folder:
            for month, accounts in plan.items():
                self._month(month, accounts, Path(folder))
                self.report.months += 1
                self.progress(
                    f"{month:%Y-%m}: {self.report.referrals} referrals, "
                    f"{self.report.accounts_referred} accounts so far"
                )
        # Referrals nobody answered run past their deadline and expire.
        service.check_deadlines(self.engine, now=_end_of(self.end))
        self.report.seconds = time.perf_counter() - began
        return self.report

    def _month(self, month: date, accounts: int, folder: Path) -> None:
        networks: list[Network] = []
        due = [n for when, n in self._pending_reemergence if when <= month]
        self._pending_reemergence = [(w, n) for w, n in self._pending_reemergence if w > month]
        for old in due:
            # The same people, the same phone, new accounts after a removal.
            networks.append(self._network(month, old.recipient, old.route, old.lang, old.phone))
            accounts -= len(networks[-1].accounts)
        accounts += self._carry
        while accounts > 0:
            networks.append(self._network(month))
            accounts -= len(networks[-1].accounts)
        # Networks come whole: what one month overshoots, the next refers less.
        self._carry = accounts
        if not networks:
            return
        networks.sort(key=lambda n: n.at)
        posts = self._posts(networks)
        self._ingest(posts, folder / f"{month:%Y-%m}.jsonl")
        with self.engine.begin() as conn:
            self.db = cast(Engine, _OneTransaction(conn))
            try:
                self._work(month, networks, posts)
            finally:
                self.db = self.engine

    def _work(self, month: date, networks: list[Network], posts: list[dict[str, Any]]) -> None:
        """A month's review, cases, evidence, referrals and answers (one transaction)."""
        queue.refresh(
            self.db,
            threshold=self.detector.threshold,
            model_version=self.detector.version,
            now=_utc(month),
        )
        items = self._items(posts)
        by_network: dict[str, list[int | None]] = {}
        for post in posts:
            by_network.setdefault(post["network"], []).append(items[post["id"]])
        opened = [self._review(network, by_network[network.key]) for network in networks]
        # One capture per month holds every account referred that month (sealed before any
        # of their referrals is approved); per-referral captures would only repeat the work.
        self._capture(opened[0][0], [case_id for _, case_id in opened])
        for network, (analyst, case_id) in zip(networks, opened, strict=True):
            self._refer(network, analyst, case_id)

    def _network(
        self,
        month: date,
        recipient: str | None = None,
        route: str | None = None,
        lang: str | None = None,
        phone: str | None = None,
    ) -> Network:
        rng = self.rng
        self._serial += 1
        year = min(max(month.year, min(PLATFORMS)), max(PLATFORMS))
        recipient = recipient or _pick(rng, PLATFORMS[year])
        route = route or _pick(rng, ROUTES)
        lang = lang or _pick(rng, LANGS[route])
        if (lang, route) not in TEMPLATES:
            lang = "en"
        phone = phone or _phone(rng, route)
        size = self._sizes.next()
        key = f"n{self._serial:06d}"
        accounts = []
        for n in range(size):
            platform = _pick(rng, META_PLATFORMS) if recipient == "meta" else recipient
            accounts.append((platform, f"sim{key}a{n}"))
        days = _days_in(month)
        at = _utc(month) + timedelta(days=rng.uniform(0, days - 1.5), hours=rng.uniform(0, 1))
        return Network(key, recipient, route, lang, phone, tuple(accounts), at)

    def _posts(self, networks: list[Network]) -> list[dict[str, Any]]:
        posts = []
        for network in networks:
            template = TEMPLATES[(network.lang, network.route)]
            places = (DEPARTURES_ARABIC_SCRIPT if network.lang in ("ar", "fa") else DEPARTURES)[
                network.route
            ]
            for platform, native in network.accounts:
                text = template.format(
                    dep=self.rng.choice(places),
                    price=self.rng.randrange(800, 6000, 50),
                    phone=network.phone,
                )
                created = network.at - timedelta(hours=self.rng.uniform(2, 72))
                posts.append(
                    {
                        "id": f"{native}p",
                        "platform": platform,
                        "author": native,
                        "text": text,
                        "created_at": created.isoformat().replace("+00:00", "Z"),
                        "network": network.key,
                    }
                )
        return posts

    def _ingest(self, posts: list[dict[str, Any]], path: Path) -> None:
        from tidewatch.ingest import open_input, read_stream
        from tidewatch.pipeline import detect_and_save
        from tidewatch.store import load

        path.write_text(
            "".join(
                json.dumps({k: v for k, v in p.items() if k != "network"}, ensure_ascii=False)
                + "\n"
                for p in posts
            ),
            "utf-8",
        )
        with open_input(str(path)) as stream:
            report = load(
                self.engine,
                read_stream(stream, format="generic", collector="tidewatch-simulator"),
                input_name=path.name,
                batch_size=500,
                after_write=detect_and_save(self.detector),
            )
        if report.errors:
            raise RuntimeError(f"the simulator's own posts did not ingest: {report.errors}")
        self.report.posts += len(posts)

    def _items(self, posts: list[dict[str, Any]]) -> dict[str, int | None]:
        """Review item of each post (None: the detector did not flag it)."""
        found: dict[str, int | None] = dict.fromkeys(p["id"] for p in posts)
        by_platform: dict[str, list[str]] = {}
        for post in posts:
            by_platform.setdefault(post["platform"], []).append(post["id"])
        with self.db.connect() as conn:
            for platform, natives in by_platform.items():
                for chunk in _chunks(natives, 500):
                    # By platform too, so that the posts' (platform, native id) key is used.
                    for native, item in conn.execute(
                        select(t.posts.c.native_id, t.review_items.c.id)
                        .join(t.review_items, t.review_items.c.post_id == t.posts.c.id)
                        .where(t.posts.c.platform == platform, t.posts.c.native_id.in_(chunk))
                    ):
                        found[native] = item
        return found

    def _review(self, network: Network, items: list[int | None]) -> tuple[Actor, int]:
        rng = self.rng
        now = network.at
        analyst = rng.choice(self.analysts)
        for item_id in items:
            if item_id is None:
                continue  # the detector did not flag it: nobody reviews it
            now += timedelta(minutes=rng.uniform(2, 20))
            queue.claim(self.db, analyst, item_id, now=now)
            queue.decide(self.db, analyst, item_id, "advert", "crossing_offer", now=now)
            self.report.review_decisions += 1
            if rng.random() < DOUBLE_REVIEW:
                self._second_review(item_id, analyst, now + timedelta(hours=rng.uniform(1, 48)))
        case_id = cases.open_case(
            self.db,
            analyst,
            f"Network {network.key} ({network.route.replace('_', ' ')})",
            accounts=list(network.accounts),
            now=now,
        )
        return analyst, case_id

    def _refer(self, network: Network, analyst: Actor, case_id: int) -> None:
        rng = self.rng
        now = network.at + timedelta(hours=1)
        referral = service.draft(
            self.db,
            analyst,
            recipient=network.recipient,
            case_id=case_id,
            summary=f"Accounts advertising {network.route.replace('_', ' ')} crossings",
            now=now + timedelta(minutes=30),
        )
        approver = rng.choice(self.supervisors)
        approved_at = now + timedelta(hours=rng.uniform(1, 30))
        service.approve(self.db, approver, referral.id, now=approved_at)
        sent_at = approved_at + timedelta(minutes=rng.uniform(1, 10))
        delivered = deliver_one(self.db, self.channels, "sim-outbox", now=sent_at)
        if delivered is None or delivered[1].status != "delivered":
            raise RuntimeError(f"the outbox did not deliver referral {referral.public_id}")
        self.report.networks += 1
        self.report.referrals += 1
        self.report.accounts_referred += len(network.accounts)
        outcome = self._answer(network, referral.id, sent_at)
        self.report.outcomes[outcome] = self.report.outcomes.get(outcome, 0) + 1
        if outcome == "removed" and rng.random() < REEMERGE:
            months = rng.randint(1, 5)
            back = date(network.at.year, network.at.month, 1)
            for _ in range(months):
                back = date(back.year + back.month // 12, back.month % 12 + 1, 1)
            self._pending_reemergence.append((back, network))

    def _second_review(self, item_id: int, first: Actor, at: datetime) -> None:
        second = next(a for a in self.rng.sample(self.analysts, 2) if a != first)
        queue.reopen(self.db, second, item_id, note="second review (agreement sample)", now=at)
        queue.claim(self.db, second, item_id, now=at)
        agrees = self.rng.random() < SECOND_REVIEWER_AGREES
        # A doubting second reviewer parks the post; it is settled at the next team review.
        decision, reason = (
            ("advert", "crossing_offer") if agrees else ("needs_more", "context_needed")
        )
        queue.decide(self.db, second, item_id, decision, reason, now=at)
        if decision != "advert":
            queue.reopen(self.db, first, item_id, note="settled", now=at)
            queue.claim(self.db, first, item_id, now=at)
            queue.decide(self.db, first, item_id, "advert", "crossing_offer", now=at)
        self.report.double_reviewed += 1
        self.report.review_decisions += 2 if decision == "advert" else 3

    def _capture(self, analyst: Actor, case_ids: list[int]) -> None:
        from tidewatch.evidence.capture import capture_accounts

        with self.db.connect() as conn:
            ids = list(
                conn.execute(
                    select(t.case_accounts.c.account_id).where(
                        t.case_accounts.c.case_id.in_(case_ids)
                    )
                ).scalars()
            )
        capture_accounts(
            self.db,
            analyst,
            sorted(set(ids)),
            title=f"simulated month: cases {case_ids[0]}-{case_ids[-1]}",
            signing_key=self.signing_key,
        )

    def _answer(self, network: Network, referral_id: int, sent_at: datetime) -> str:
        rng = self.rng
        outcome = self._outcomes.next()
        liaison = self.liaisons[network.recipient]
        years = max((sent_at - datetime(2022, 1, 1, tzinfo=UTC)).days / 365.25, 0.0)
        median = MEDIAN_HOURS[network.recipient] * 0.85**years
        delay = timedelta(hours=min(median * math.exp(rng.gauss(0, 0.9)), 24 * 40))
        with self.db.begin() as conn:
            referral = service.get(conn, referral_id)
            ack_at = sent_at + min(delay / 3, timedelta(hours=rng.uniform(0.5, 12)))
            referral = service.acknowledge(conn, referral, liaison, now=ack_at)
            if outcome == "silence":
                return "no answer"
            decided_at = sent_at + delay
            decision = _decision(
                rng, outcome, network.recipient, referral, decided_at, self._partial
            )
            service.record_decision(
                conn,
                referral,
                decision,
                actor=liaison.username,
                source="partner_api",
                now=decided_at + timedelta(minutes=rng.uniform(1, 90)),
            )
        return outcome


def _decision(
    rng: random.Random,
    outcome: str,
    recipient: str,
    referral: Any,
    at: datetime,
    partial: Quota,
) -> service.PlatformDecision:
    statement = f"{recipient}-sor-{referral.public_id[:8]}-{int(at.timestamp())}"
    common: dict[str, Any] = {
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT"
        if rng.random() < 0.3
        else "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
        if rng.random() < 0.2
        else "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "automated_detection": False,
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "statement_id": statement,
        "decided_at": at,
    }
    if outcome == "no_violation":
        return service.PlatformDecision(no_violation=True, decided_at=at)
    if outcome == "restricted":
        return service.PlatformDecision(
            decision_visibility=("DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",), **common
        )
    if outcome == "geo_blocked":
        return service.PlatformDecision(
            decision_visibility=("DECISION_VISIBILITY_CONTENT_DISABLED",),
            territorial_scope=("GB", "FR", "IT"),
            **common,
        )
    accounts = [item.id for item in referral.items if item.kind == "account"]
    item_ids: tuple[int, ...] = ()
    if len(accounts) > 1 and partial.next():
        # One account stays up: the decision names the items it removed.
        kept = rng.choice(accounts)
        item_ids = tuple(i.id for i in referral.items if i.id != kept)
    return service.PlatformDecision(
        decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
        decision_account=rng.choice(("DECISION_ACCOUNT_TERMINATED", "DECISION_ACCOUNT_SUSPENDED")),
        item_ids=item_ids,
        **common,
    )


def _phone(rng: random.Random, route: str) -> str:
    if route == "central_mediterranean":
        return f"+218 91 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
    if route == "eastern_mediterranean":
        return f"+90 532 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
    return f"+44 7911 {rng.randrange(100000, 999999)}"


def _chunks(values: list[str], size: int) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _end_of(day: date) -> datetime:
    return _utc(day) + timedelta(days=1)


def _days_in(month: date) -> int:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (following - month).days


def simulate(
    engine: Engine,
    *,
    scale: float = 1.0,
    seed: int = 2021,
    start: date = START,
    end: date = END,
    progress: Callable[[str], None] | None = None,
) -> SimulationReport:
    """Simulate the programme into ``engine`` (best into an empty database)."""
    if not 0 < scale <= 10:
        raise ValueError(f"scale must be in (0, 10], not {scale}")
    return Simulator(engine, scale=scale, seed=seed, start=start, end=end, progress=progress).run()
