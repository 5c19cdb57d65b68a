"""A generated linking scenario with known ground truth, for tests and ``bench/link.py``.

Smuggling networks of 3-6 accounts across platforms share phone numbers (written in many
ways: spaced, 00-prefixed, Arabic-Indic digits, inside wa.me links) and advert templates
(the same advert with another number); some accounts are linked only by a template.
Benign accounts share a rescue hotline and a news link; a few benign accounts are wrongly
flagged by the detector and still share the hotline. Some network accounts are removed and a
new account re-emerges afterwards with the removed account's number or template.

Labels are given (the scenario tests linking, not detection). Everything is synthetic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tidewatch.link.networks import AccountFacts, AccountKey, PostFacts

PLATFORMS = ("facebook", "x", "tiktok", "instagram", "telegram", "youtube")
# Each network writes its own advert: an opening, a promise and a call to action drawn from
# these pools, plus the network's brand name, so that two networks rarely share a template.
OPENINGS = (
    "Boat to UK from {place} {when}",
    "رحلة الى ايطاليا من {place} {when}",
    "Udhëtim për në Angli me kamion {when}",
    "سفر به اروپا از {place} {when}",
    "Đi Anh an toàn {when} từ {place}",
    "Lorry cab seat to England {when}",
    "Yacht trip to Italy leaving {place} {when}",
    "گەشتی بەریتانیا لە {place} {when}",
)
PROMISES = (
    "100% safe, no failures",
    "family price {price} per person",
    "children free, {price} for adults",
    "VIP places, pay when you arrive",
    "السعر {price} للشخص مضمون",
    "قیمت {price} برای هر نفر",
    "giá {price} một người, bao đậu",
    "çmimi {price}, garanci",
    "calm sea forecast, engine new",
    "second driver seat, papers ready",
)
CALLS = (
    "Call {phone}",
    "WhatsApp {phone}",
    "تواصل {phone}",
    "تماس {phone}",
    "liên hệ {phone}",
    "Shkruani {phone}",
    "inbox or {phone}",
)
BRANDS = (
    "Star",
    "Falcon",
    "Eagle",
    "Safar",
    "Europa",
    "Hope",
    "Sky",
    "Wave",
    "Gold",
    "Lion",
    "Nova",
    "Atlas",
)
PLACES = ("Calais", "Dunkirk", "Zuwara", "Sabratha", "Izmir", "Bodrum", "Gravelines")
WHEN = ("tonight", "this week", "next Friday", "tomorrow", "before the weekend", "every day")
HOTLINE = "+33 4 65 71 20 20"
NEWS_LINK = "https://news.example.net/channel-crossings-report"
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


_SYLLABLES = (
    "ka",
    "ro",
    "mi",
    "sa",
    "tu",
    "le",
    "bo",
    "ni",
    "da",
    "ve",
    "zo",
    "ha",
    "pi",
    "lu",
    "ge",
)


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


@dataclass
class Scenario:
    accounts: list[AccountFacts]
    posts: list[PostFacts]
    network_of: dict[AccountKey, str]  # ground truth; benign accounts are absent
    reemerged: dict[AccountKey, AccountKey] = field(default_factory=dict)  # new -> removed
    benign: list[AccountKey] = field(default_factory=list)


def random_hash(rng: random.Random) -> str:
    return rng.getrandbits(256).to_bytes(32, "big").hex()


def reupload(photo: str, rng: random.Random, max_bits: int = 20) -> str:
    """The PDQ hash of a re-encoded or slightly cropped copy: a few bits flipped."""
    value = int(photo, 16)
    for bit in rng.sample(range(256), rng.randint(0, max_bits)):
        value ^= 1 << bit
    return value.to_bytes(32, "big").hex()


def written(number: str, rng: random.Random) -> str:
    """One of the ways a UK mobile number (+447...) turns up in adverts."""
    digits = number.removeprefix("+")
    style = rng.randrange(5)
    if style == 0:
        return f"+{digits[:2]} {digits[2:6]} {digits[6:]}"
    if style == 1:
        return f"00{digits}"
    if style == 2:
        return f"+{digits}".translate(ARABIC_DIGITS)
    if style == 3:
        return f"wa.me/{digits}"
    return f"0{digits[2:6]} {digits[6:]}"


def generate(
    networks: int = 30, benign: int = 150, posts_per_account: int = 5, seed: int = 11
) -> Scenario:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    accounts: list[AccountFacts] = []
    posts: list[PostFacts] = []
    truth: dict[AccountKey, str] = {}
    reemerged: dict[AccountKey, AccountKey] = {}
    counter = 0

    def new_post(
        account: AccountKey,
        text: str,
        when: datetime,
        label: str,
        score: float,
        media: tuple[str, ...] = (),
    ) -> None:
        nonlocal counter
        counter += 1
        posts.append(
            PostFacts(
                key=(account[0], f"p{counter}"),
                account=account,
                text=text,
                label=label,
                score=score,
                created_at=when,
                media_hashes=media,
            )
        )

    used_numbers: set[str] = set()

    def fresh_number() -> str:
        while True:
            number = f"+447{rng.randrange(400, 999)}{rng.randrange(100000, 999999)}"
            if number not in used_numbers:
                used_numbers.add(number)
                return number

    for n in range(networks):
        name = f"network-{n}"
        numbers = [fresh_number() for _ in range(rng.choice((1, 2)))]
        image = random_hash(rng)
        brand = f"{rng.choice(BRANDS)} {rng.choice(BRANDS)} {n}"
        # Real groups write their own words; a made-up slogan keeps networks' templates apart.
        slogan = " ".join(_word(rng) for _ in range(6))
        template = " ".join(
            (
                f"{brand} Travel:",
                slogan,
                rng.choice(OPENINGS),
                rng.choice(PROMISES),
                rng.choice(CALLS),
            )
        )
        size = rng.randint(3, 6)
        members: list[AccountKey] = []
        # One network in three loses its first account to a takedown, then re-emerges.
        removed_at = start + timedelta(days=260) if n % 3 == 0 else None
        for m in range(size):
            key = (rng.choice(PLATFORMS), f"{name}-acct{m}")
            members.append(key)
            created = start + timedelta(days=rng.randrange(0, 200))
            accounts.append(
                AccountFacts(
                    key=key,
                    handle=f"travel_{n}_{m}",
                    first_seen=created,
                    removed_at=removed_at if m == 0 else None,
                )
            )
            truth[key] = name
            # The last member is linked by the template alone: its own, unshared number.
            own_numbers = [fresh_number()] if m == size - 1 and size > 3 else numbers
            for p in range(posts_per_account):
                text = template.format(
                    place=rng.choice(PLACES),
                    when=rng.choice(WHEN),
                    price=f"{rng.randrange(8, 40) * 100}€",
                    phone=written(rng.choice(own_numbers), rng),
                )
                # Every other post re-uploads the network's testimonial photo (re-encoded).
                photo = (reupload(image, rng),) if p % 2 == 0 else ()
                new_post(key, text, created + timedelta(days=p), "advert", 0.9, photo)
        if removed_at is not None:  # the re-emergence, with the removed account's number
            old = members[0]
            new = (rng.choice(PLATFORMS), f"{name}-reborn")
            accounts.append(
                AccountFacts(
                    key=new, handle=f"travel_{n}_new", first_seen=removed_at + timedelta(days=3)
                )
            )
            truth[new] = name
            reemerged[new] = old
            text = template.format(
                place=rng.choice(PLACES), when="again", price="900€", phone=written(numbers[0], rng)
            )
            new_post(new, text, removed_at + timedelta(days=4), "advert", 0.9)

    benign_keys: list[AccountKey] = []
    viral_photo = random_hash(rng)
    for b in range(benign):
        key = (rng.choice(PLATFORMS), f"benign-{b}")
        benign_keys.append(key)
        created = start + timedelta(days=rng.randrange(0, 300))
        accounts.append(AccountFacts(key=key, handle=f"reader_{b}", first_seen=created))
        kind = b % 3
        for p in range(3):
            if kind == 0:
                text = f"If you are in distress at sea call {HOTLINE}. Share your GPS position. ({b}-{p})"
            elif kind == 1:
                text = f"Read the investigation into smuggling adverts: {NEWS_LINK} ({b}-{p})"
            else:
                text = f"Ferry from Dover was late again today, story {b}-{p}"
            # One benign account in ten is wrongly flagged by the detector; half share a viral
            # news photo, which must not glue them (or anyone) together.
            label = "advert" if b % 10 == 0 and p == 0 else "not_advert"
            photo = (reupload(viral_photo, rng),) if b % 2 == 0 and p == 0 else ()
            score = 0.7 if label == "advert" else 0.1
            new_post(key, text, created + timedelta(days=p), label, score, photo)
    return Scenario(
        accounts=accounts, posts=posts, network_of=truth, reemerged=reemerged, benign=benign_keys
    )
