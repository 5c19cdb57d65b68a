"""Selectors: the typed identifiers that tie accounts together (SIGNALS.md §11).

A phone number is an E.164 selector whatever way a post wrote it (spaced, Arabic-Indic
digits, inside a wa.me link); a Telegram link is a messenger selector; a URL is reduced to
host and path. Linking uses libphonenumber's POSSIBLE leniency, looser than detection's VALID:
a number that appears in three smugglers' posts links them even if it is not in service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from urllib.parse import urlsplit

import phonenumbers
import yaml
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher

from tidewatch.detect.extract import LANGUAGE_REGIONS, links, messengers
from tidewatch.detect.normalise import normalise

_MIN_E164 = 11  # "+" and ten digits: shorter numbers are prices, years and short codes
# Ten digits less a three-digit country code, less one more that a national prefix rule may
# add (Argentina's "15" becomes "9"): fewer written digits cannot make _MIN_E164.
_MIN_RUN_DIGITS = 6
# At least _MIN_RUN_DIGITS digits with at most four other characters between them (the
# matcher allows four punctuation marks between digit groups; any character here, so a run
# is never cut shorter than a number the matcher would read).
_DIGIT_RUN = re.compile(rf"\d(?:\D{{0,4}}\d){{{_MIN_RUN_DIGITS - 1},}}")
_TELEGRAM_HINT = re.compile(r"(?:t\.me|telegram\.me|telegram\.dog)/")
_LINK_HINT = re.compile(r"[/@]|www\.")
_CONTEXT = 16
_ANY_DIGIT = re.compile(r"\d")
_LAST_WORD = re.compile(r"[^\W_xX](?=[\WxX_]*$)")
_WA_NUMBER = re.compile(r"(?:wa\.me/|phone=)\+?(\d{8,15})")
_TELEGRAM = re.compile(r"(?:t\.me|telegram\.me|telegram\.dog)/(?!joinchat|\+)([a-z0-9_]{4,40})")


@dataclass(frozen=True, order=True)
class Selector:
    kind: str  # phone | telegram | url | email | media
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def selectors_in(text: str, lang: str = "") -> set[Selector]:
    """Every selector written in ``text``."""
    normal = normalise(text).text
    regions = tuple([*LANGUAGE_REGIONS.get(lang, ()), "GB"][:3])
    found = {Selector("phone", number) for number in phone_numbers(normal, regions)}
    for wa in _WA_NUMBER.finditer(normal):
        found.add(Selector("phone", "+" + wa.group(1)))
    # Most posts have no link at all; the hints are substrings every link found below has.
    for link in messengers(normal) if _TELEGRAM_HINT.search(normal) else ():
        telegram = _TELEGRAM.search(link.value)
        if telegram:
            found.add(Selector("telegram", telegram.group(1)))
    for link in links(normal) if _LINK_HINT.search(normal) else ():
        if link.kind == "email":
            found.add(Selector("email", link.value))
        elif (
            link.kind == "url"
            and not _WA_NUMBER.search(link.value)
            and not _TELEGRAM.search(link.value)
        ):
            found.add(Selector("url", canonical_url(link.value)))
    return {s for s in found if not is_benign(s)}


def phone_numbers(normal: str, regions: tuple[str, ...]) -> set[str]:
    """E.164 numbers written in normalised text: libphonenumber's matcher run on each window
    around a run of digits long enough to be a number, and remembered per window.

    A run of digits with fewer than ``_MIN_RUN_DIGITS`` cannot read as a number of
    ``_MIN_E164`` characters (a country code has at most three digits), and a post's numbers
    are written in a few styles shared by thousands of posts, so the matcher (most of the
    linking time at a million posts) sees each distinct window once. The window keeps enough
    text either side for the matcher's own context checks (a leading "+" or "(", an
    extension, a time-stamp suffix).
    """
    numbers: set[str] = set()
    window_start = window_end = -1
    for run in _DIGIT_RUN.finditer(normal):
        start, end = max(0, run.start() - _CONTEXT), run.end() + _CONTEXT
        # Before a number only "+", "(" and punctuation can belong to it, and at POSSIBLE
        # leniency the matcher looks no further back, so words there would only split the
        # cache; unless digits precede them ("07 ext. 2024" is one number and its extension).
        before = _LAST_WORD.search(normal, start, run.start())
        if before and not _ANY_DIGIT.search(normal, start, before.end()):
            start = before.end()
        if window_end >= start:  # overlapping windows are read as one
            window_end = end
            continue
        if window_end >= 0:
            numbers |= _phones_in_window(normal[window_start:window_end], regions)
        window_start, window_end = start, end
    if window_end >= 0:
        numbers |= _phones_in_window(normal[window_start:window_end], regions)
    return numbers


@lru_cache(maxsize=1 << 17)
def _phones_in_window(window: str, regions: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_phones_by_matcher(window, regions))


def _phones_by_matcher(normal: str, regions: tuple[str, ...]) -> set[str]:
    """The matcher over the whole text (the reference :func:`phone_numbers` must agree with)."""
    found: set[str] = set()
    spans: set[tuple[int, int]] = set()
    for region in ["ZZ", *regions]:  # international formats first, then national guesses
        try:
            for match in PhoneNumberMatcher(normal, region, leniency=Leniency.POSSIBLE):
                number = phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
                # One reading per written number (the first region that reads it), and no
                # short numbers: "£1500" is a POSSIBLE number somewhere, and a price.
                if (
                    any(s < match.end and match.start < e for s, e in spans)
                    or len(number) < _MIN_E164
                ):
                    continue
                spans.add((match.start, match.end))
                found.add(number)
        except Exception:  # libphonenumber raises on odd input; a post is not a phone book
            continue
    return found


def canonical_url(url: str) -> str:
    """Host (without www.) and path, lower-cased host, no scheme, query or fragment."""
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.lower()
    host = (parts.hostname or "").removeprefix("www.")
    return host + parts.path.rstrip("/")


@cache
def _benign() -> tuple[frozenset[str], tuple[str, ...]]:
    path = resources.files("tidewatch.link") / "benign_selectors.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    exact = frozenset(
        f"{kind}:{value}"
        for kind, values in (data.get("selectors") or {}).items()
        for value in values
    )
    domains = tuple(str(d).lower() for d in data.get("domains") or ())
    return exact, domains


def is_benign(selector: Selector) -> bool:
    """Known benign selectors (rescue hotlines, platforms, news sites) never link accounts."""
    exact, domains = _benign()
    if str(selector) in exact:
        return True
    if selector.kind == "url":
        host = selector.value.split("/", 1)[0]
        return any(host == d or host.endswith("." + d) for d in domains)
    return False
