"""Extract selectors and structured cues from normalised text, with spans.

Selectors (phone numbers, messenger links and handles, URLs, e-mail addresses) are what link
accounts into networks and what a platform needs in a referral; prices and per-person terms
are the commercial core of an advert. Everything here works on the normalised text of
:mod:`tidewatch.detect.normalise` and reports spans in it; the detector maps them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher

# Languages -> regions to try for numbers written without a country code. The places a post
# names come first (a "091..." number next to Zuwara is Libyan).
LANGUAGE_REGIONS: dict[str, tuple[str, ...]] = {
    "en": ("GB",),
    "fr": ("FR",),
    "es": ("ES", "MX", "CO"),
    "it": ("IT",),
    "pl": ("PL",),
    "ar": ("LY", "TN", "EG", "SY", "IQ"),
    "ar-Latn": ("TN", "DZ", "MA", "LY"),
    "ckb": ("IQ",),
    "kmr": ("TR", "IQ"),
    "fa": ("IR",),
    "prs": ("AF",),
    "ps": ("AF", "PK"),
    "ur": ("PK",),
    "bn": ("BD",),
    "tr": ("TR",),
    "sq": ("AL",),
    "vi": ("VN",),
    "ti": ("ER", "ET"),
    "am": ("ET",),
    "uk": ("UA",),
}
_MAX_REGIONS = 3
# Seven digits with at most two other characters between them: anything less is no phone
# number, and the phone matcher is the slowest extractor, so most posts skip it.
_ENOUGH_DIGITS = re.compile(r"(?:\d[^\d\n]{0,2}){7}")

MESSENGER_PATTERNS: dict[str, re.Pattern[str]] = {
    "whatsapp": re.compile(
        r"(?:https?://)?(?:wa\.me/\+?\d{6,15}|api\.whatsapp\.com/send/?\?phone=\+?\d{6,15}"
        r"|chat\.whatsapp\.com/[a-z0-9]{10,30}|wa\.link/[a-z0-9]+)",
    ),
    "telegram": re.compile(r"(?:https?://)?(?:t\.me|telegram\.me|telegram\.dog)/[+a-z0-9_]{3,40}"),
    "viber": re.compile(
        r"viber://(?:chat|add|contact)\?number=[%+\d]{6,20}|invite\.viber\.com/\S+"
    ),
    "signal": re.compile(r"(?:https?://)?signal\.me/#\S+|signal\.group/#\S+"),
    "imo": re.compile(r"(?:https?://)?(?:s\.)?imo\.im/\S+"),
    "zalo": re.compile(r"(?:https?://)?zalo\.me/\d{6,15}"),
}
# Mentions of a messenger by name, in the scripts seen in adverts.
_MESSENGER_NAMES = re.compile(
    r"(?<!\w)(?:whats ?app|watsap+|واتساب|واتس اب|واتس|وتساب|واتسپ|وتساپ|واتس‌اپ|viber|vibe?r|فايبر|وایبر|"
    r"ڤایبەر|telegram|تلگرام|تيليجرام|تلغرام|تێلێگرام|signal|سيجنال|imo|ایمو|ايمو|zalo|botim)(?!\w)"
)
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'،]+|(?<![@\w])[a-z0-9-]+\.(?:com|net|org|me|io|co|uk|ly|info|app)/[^\s<>\"'،]*"
)
_EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}")
_HANDLE = re.compile(r"(?<![\w@./])@([a-z0-9_.]{3,30})(?![\w@])")

_CURRENCIES: dict[str, str] = {
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "evro": "EUR",
    "eura": "EUR",
    "eur.": "EUR",
    "يورو": "EUR",
    "اليورو": "EUR",
    "یورو": "EUR",
    "ئیورۆ": "EUR",
    "ευρώ": "EUR",
    "євро": "EUR",
    "евро": "EUR",
    "ዩሮ": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "sterlin": "GBP",
    "paund": "GBP",
    "جنيه": "GBP",
    "پوند": "GBP",
    "پاوەند": "GBP",
    "sterline": "GBP",
    "funt": "GBP",
    "funtów": "GBP",
    "quid": "GBP",
    "livres": "GBP",  # livres sterling
    "باوند": "GBP",
    "bảng": "GBP",  # bảng Anh
    "$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "dolar": "USD",
    "dólares": "USD",
    "دولار": "USD",
    "دلار": "USD",
    "ڈالر": "USD",
    "dolarë": "USD",
    "dolarów": "USD",
    "dolara": "USD",
    "دالر": "USD",
    "ډالر": "USD",
    "đô": "USD",
    "ዶላር": "USD",
    "dinar": "LYD",
    "دينار": "LYD",
    "lyd": "LYD",
    "dinars": "LYD",
    "د.ل": "LYD",
    "dt": "TND",
    "tnd": "TND",
    "د.ت": "TND",
    "fcfa": "XOF",
    "cfa": "XOF",
    "lira": "TRY",
    "tl": "TRY",
    "₺": "TRY",
    "ليرة": "TRY",
    "لیر": "TRY",
    "toman": "IRR",
    "تومان": "IRR",
    "تومن": "IRR",
    "rial": "IRR",
    "afghani": "AFN",
    "افغانی": "AFN",
    "rupees": "PKR",
    "rs": "PKR",
    "روپے": "PKR",
    "pkr": "PKR",
    "taka": "BDT",
    "টাকা": "BDT",
    "đồng": "VND",
    "vnd": "VND",
    "triệu": "VND",
    "tr": "VND",
    "birr": "ETB",
    "ብር": "ETB",
    "nakfa": "ERN",
    "ናቕፋ": "ERN",
    "lek": "ALL",
    "lekë": "ALL",
    "zł": "PLN",
    "pln": "PLN",
}
_AMOUNT = r"\d{1,3}(?:[.,' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?(?:\s?[kK](?![a-zA-Z]))?"
_CURRENCY_WORDS = "|".join(re.escape(c) for c in sorted(_CURRENCIES, key=len, reverse=True))
#: Words for thousands and more between an amount and its currency ("3 mil euro", "5 ألف
#: دولار", "2 lakh rupees") or standing for the money itself (lakh: South Asian prices).
_MULTIPLIERS: dict[str, int] = {
    "mil": 1000,
    "mille": 1000,
    "mila": 1000,
    "bin": 1000,
    "mijë": 1000,
    "ألف": 1000,
    "الف": 1000,
    "آلاف": 1000,
    "الاف": 1000,
    "هزار": 1000,
    "nghìn": 1000,
    "ngàn": 1000,
    "lakh": 100_000,
    "lakhs": 100_000,
    "لاکھ": 100_000,
    "लाख": 100_000,
    "ਲੱਖ": 100_000,
}
#: A multiplier that is a price by itself, with the currency it implies.
_MONEY_MULTIPLIERS = {"lakh": "INR", "lakhs": "INR", "लाख": "INR", "ਲੱਖ": "INR", "لاکھ": "PKR"}
_MULTIPLIER_WORDS = "|".join(re.escape(m) for m in sorted(_MULTIPLIERS, key=len, reverse=True))
# ``(?<![\w.])(?:{_AMOUNT})`` with the first digit of both forms ahead of the lookbehind, so
# that the engine skips to digits instead of testing the lookbehind everywhere.
_AMOUNT_RE = re.compile(
    r"\d(?<![\w.]\d)(?:\d{0,2}(?:[.,' ]\d{3})+(?:[.,]\d{1,2})?|\d*(?:[.,]\d+)?(?:\s?[kK](?![a-zA-Z]))?)"
)
_CURRENCY_AFTER = re.compile(
    rf"\s?(?:(?P<multiplier>{_MULTIPLIER_WORDS})(?!\w)\s?)?(?P<currency>{_CURRENCY_WORDS})(?!\w)"
)
_MONEY_AFTER = re.compile(rf"\s?(?P<multiplier>{_MULTIPLIER_WORDS})(?!\w)")
#: Counted people after a bare lakh: "20 lakh people", "5 lakh log" are not prices.
_PEOPLE_AFTER = re.compile(
    r"\s*(?:people|persons|migrants|refugees|families|log|logon|लोग|लोगों|ਲੋਕ|ਲੋਕਾਂ|لوگ|لوگوں|افراد|نفر)(?!\w)",
    re.IGNORECASE,
)
_CURRENCY_BEFORE = re.compile(rf"(?:{_CURRENCY_WORDS})\s?$")
_WINDOW = 16


@dataclass(frozen=True)
class Found:
    kind: str  # phone | messenger | messenger_mention | url | email | handle | price
    start: int
    end: int
    value: str  # canonical: E.164, lower-cased URL, "GBP 1500"...
    detail: str = ""  # messenger name, region, currency


def phones(text: str, regions: list[str]) -> list[Found]:
    """Valid phone numbers (libphonenumber, VALID leniency), tried with the regions the context
    suggests; the first region that finds numbers wins for national formats. The next region
    is asked only while a run of seven digits or more holds no number yet."""
    if not _ENOUGH_DIGITS.search(text):
        return []
    found: dict[tuple[int, int], Found] = {}
    for region in [*regions[:_MAX_REGIONS], "ZZ"][: _MAX_REGIONS + 1]:
        if found and _explained(text, found):
            # Every run of digits long enough to be a number holds one already: another
            # region would read the same digits again, and the matcher is the slowest
            # extractor.
            break
        try:
            for match in PhoneNumberMatcher(text, region, leniency=Leniency.VALID):
                key = (match.start, match.end)
                if key in found:
                    continue
                number = phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
                found[key] = Found(
                    "phone",
                    match.start,
                    match.end,
                    number,
                    phonenumbers.region_code_for_number(match.number) or region,
                )
        except Exception:
            continue
    return sorted(found.values(), key=lambda f: f.start)


# Seven digits or more with at most two other characters between them (as _ENOUGH_DIGITS).
_DIGIT_RUN = re.compile(r"\d(?:[^\d\n]{0,2}\d){6,}")


def _explained(text: str, found: dict[tuple[int, int], Found]) -> bool:
    """Whether each run of digits that could be a phone number overlaps one found already."""
    return all(
        any(s < run.end() and run.start() < e for s, e in found)
        for run in _DIGIT_RUN.finditer(text)
    )


_ANY_MESSENGER = re.compile(
    "|".join(f"(?P<{name}>{p.pattern})" for name, p in MESSENGER_PATTERNS.items())
)
_MESSENGER_HINT = re.compile(r"\.me/|\.com/|viber|signal\.|imo\.im|wa\.link|\.dog/")


def messengers(text: str) -> list[Found]:
    out: list[Found] = []
    if _MESSENGER_HINT.search(text):  # most posts have no link at all
        for match in _ANY_MESSENGER.finditer(text):
            value = match.group().removeprefix("https://").removeprefix("http://")
            out.append(Found("messenger", match.start(), match.end(), value, match.lastgroup or ""))
    covered = [(f.start, f.end) for f in out]
    for match in _MESSENGER_NAMES.finditer(text):
        if not any(s <= match.start() < e for s, e in covered):
            out.append(
                Found("messenger_mention", match.start(), match.end(), match.group(), match.group())
            )
    return out


def links(text: str) -> list[Found]:
    # A URL has "://", "www." or a "/" after its domain; e-mail addresses and handles have
    # an "@". Most posts have neither, and the patterns are slow to fail on every word.
    out = []
    if "/" in text or "www." in text:
        out = [
            Found("url", m.start(), m.end(), m.group().rstrip(".,;:!?)"))
            for m in _URL.finditer(text)
        ]
    if "@" not in text:
        return out
    out.extend(Found("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text))
    emails = [(f.start, f.end) for f in out if f.kind == "email"]
    for match in _HANDLE.finditer(text):
        if not any(s <= match.start() < e for s, e in emails):
            out.append(Found("handle", match.start(), match.end(), match.group(1)))
    return out


_DIGIT = re.compile(r"\d")


def prices(text: str) -> list[Found]:
    """Amounts next to a currency ("£1,500", "1.500 €", "٣٠٠٠ دينار"). Numbers are found
    first and their neighbourhood checked for a currency, which is much faster than one
    pattern of every currency word tried at every position."""
    out: list[Found] = []
    if not _DIGIT.search(text):
        return out
    for match in _AMOUNT_RE.finditer(text):
        amount = match.group().strip()
        multiplier = 1
        after = _CURRENCY_AFTER.match(text, match.end(), match.end() + _WINDOW)
        money = None if after else _MONEY_AFTER.match(text, match.end(), match.end() + _WINDOW)
        if after:
            word = after.group("currency")
            multiplier = _MULTIPLIERS.get(after.group("multiplier") or "", 1)
            start, end = match.start(), after.end()
        elif (
            money
            and money.group("multiplier") in _MONEY_MULTIPLIERS
            and not _PEOPLE_AFTER.match(text, money.end())
        ):
            word = money.group("multiplier")
            multiplier = _MULTIPLIERS[word]
            start, end = match.start(), money.end()
        else:
            before = _CURRENCY_BEFORE.search(text, max(0, match.start() - _WINDOW), match.start())
            if not before:
                continue
            word = before.group().strip()
            start, end = before.start(), match.end()
        currency = _CURRENCIES.get(word, "") or _MONEY_MULTIPLIERS.get(word, "")
        if currency and amount:
            value = _amount(amount)
            if multiplier != 1:
                value = _scaled(value, multiplier)
            out.append(Found("price", start, end, f"{currency} {value}", currency))
    return out


def _scaled(value: str, multiplier: int) -> str:
    try:
        return str(round(float(value) * multiplier))
    except ValueError:
        return value


def _amount(text: str) -> str:
    """'1.500' -> '1500', '3k' -> '3000', '2,5' stays '2.5' (decimal comma)."""
    thousands = text.lower().endswith("k")
    digits = text.rstrip("kK").strip()
    if re.fullmatch(r"\d{1,3}(?:[.,' ]\d{3})+", digits):
        digits = re.sub(r"[.,' ]", "", digits)
    digits = digits.replace(",", ".")
    if thousands:
        try:
            return str(int(float(digits) * 1000))
        except ValueError:
            return digits
    return digits
