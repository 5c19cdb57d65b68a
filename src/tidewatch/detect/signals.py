"""From text to signals: everything the detector sees in a post, each with its original span.

``analyse(text)`` runs normalise -> language -> extract -> lexicons and returns an
:class:`Analysis`: the normalised text the classifier reads, and the list of
:class:`SignalHit` an analyst can check (what, where, the exact words).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from tidewatch.detect import extract
from tidewatch.detect.language import detect_languages
from tidewatch.detect.lexicon import NEGATIVE_CATEGORIES, SIGNAL_CATEGORIES, load_lexicons
from tidewatch.detect.normalise import EMOJI_TOKENS, Normalised, extras, normalise

#: Every signal the classifier has a feature for, in a fixed order (the model file records it).
SIGNAL_NAMES: tuple[str, ...] = (
    *(f"lexicon_{c}" for c in SIGNAL_CATEGORIES),
    *(f"negative_{c}" for c in NEGATIVE_CATEGORIES),
    "phone_number",
    "messenger_link",
    "messenger_mention",
    "price",
    "price_per_person",
    "url",
    "handle",
    "email",
    "place_departure",
    "place_transit",
    "place_destination",
    "spread_digits",
    *sorted({f"emoji_{name.removeprefix('emoji_')}" for name in EMOJI_TOKENS.values()}),
    "emoji_flag",
)
SIGNAL_INDEX = {name: index for index, name in enumerate(SIGNAL_NAMES)}
_PER_PERSON_WINDOW = 40


@dataclass(frozen=True)
class SignalHit:
    signal: str
    start: int  # in the original text
    end: int
    evidence: str  # the original words
    value: str = ""  # canonical value for selectors (E.164 number, link), else ""


@dataclass
class Analysis:
    text: str
    normalised: Normalised
    lang: str
    hits: list[SignalHit] = field(default_factory=list)
    #: Tokens appended to the normalised text for the classifier (emoji, joined digits).
    extra_tokens: list[str] = field(default_factory=list)
    _counts: Counter[str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def model_text(self) -> str:
        if not self.extra_tokens:
            return self.normalised.text
        return self.normalised.text + " " + " ".join(self.extra_tokens)

    def counts(self) -> Counter[str]:
        """How many hits of each signal. Computed once: an analysis is complete when
        :func:`analyse` returns it, and the featurizer and the reasons both ask."""
        if self._counts is None:
            self._counts = Counter(hit.signal for hit in self.hits)
        return self._counts

    def signal_vector(self) -> list[float]:
        """log(1 + count) of every signal in SIGNAL_NAMES order (sparse in practice)."""
        vector = [0.0] * len(SIGNAL_NAMES)
        for name, count in self.counts().items():
            vector[SIGNAL_INDEX[name]] = math.log1p(count)
        return vector

    def selectors(self) -> list[SignalHit]:
        return [h for h in self.hits if h.value]


def analyse(text: str) -> Analysis:
    return analyse_many([text])[0]


def analyse_many(texts: Sequence[str]) -> list[Analysis]:
    """``analyse`` of each text; the language model is asked once for the batch."""
    normals = [normalise(text) for text in texts]
    languages = detect_languages([normal.text for normal in normals])
    return [
        _analysed(text, normal, lang)
        for text, normal, lang in zip(texts, normals, languages, strict=True)
    ]


def _analysed(text: str, normal: Normalised, lang: str) -> Analysis:
    analysis = Analysis(text=text, normalised=normal, lang=lang)
    hits = analysis.hits

    def add(signal: str, start: int, end: int, value: str = "") -> None:
        first, last = normal.span(start, end)
        hits.append(SignalHit(signal, first, last, text[first:last], value))

    lexicons = load_lexicons()
    price_terms: list[int] = []
    for hit in lexicons.match(normal.text, (lang,)):
        if hit.kind == "signal":
            add(f"lexicon_{hit.category}", hit.start, hit.end)
            if hit.category == "price_terms":
                price_terms.append(hit.start)
        elif hit.kind == "negative":
            add(f"negative_{hit.category}", hit.start, hit.end)
        else:
            role = (
                hit.category
                if hit.category in ("departure", "transit", "destination")
                else "transit"
            )
            add(f"place_{role}", hit.start, hit.end, hit.place_id)

    regions = _regions(lang, [h.value for h in hits if h.signal.startswith("place_")])
    for found in extract.phones(normal.text, regions):
        add("phone_number", found.start, found.end, found.value)
    for found in extract.messengers(normal.text):
        if found.kind == "messenger":
            add("messenger_link", found.start, found.end, found.value)
        else:
            add("messenger_mention", found.start, found.end)
    messenger_spans = [(h.start, h.end) for h in hits if h.signal == "messenger_link"]
    for found in extract.links(normal.text):
        first, _ = normal.span(found.start, found.end)
        if found.kind == "url" and any(s <= first < e for s, e in messenger_spans):
            continue
        add(found.kind, found.start, found.end, found.value)
    for found in extract.prices(normal.text):
        add("price", found.start, found.end, found.value)
        if any(abs(found.start - p) <= _PER_PERSON_WINDOW for p in price_terms):
            add("price_per_person", found.start, found.end, found.value)

    for extra in extras(text):
        analysis.extra_tokens.append(extra.token)
        if extra.token.startswith("digits_"):
            hits.append(
                SignalHit("spread_digits", extra.start, extra.end, text[extra.start : extra.end])
            )
        elif extra.token.startswith("emoji_flag_"):
            hits.append(
                SignalHit("emoji_flag", extra.start, extra.end, text[extra.start : extra.end])
            )
        else:
            hits.append(
                SignalHit(extra.token, extra.start, extra.end, text[extra.start : extra.end])
            )
    hits.sort(key=lambda h: (h.start, h.signal))
    return analysis


def _regions(lang: str, place_ids: list[str]) -> list[str]:
    lexicons = load_lexicons()
    regions: list[str] = []
    for place_id in place_ids:
        place = lexicons.places.get(place_id)
        if (
            place
            and len(place.country) == 2
            and place.country not in ("EU",)
            and place.country not in regions
        ):
            regions.append(place.country)
    for region in extract.LANGUAGE_REGIONS.get(lang, ()):
        if region not in regions:
            regions.append(region)
    return regions
