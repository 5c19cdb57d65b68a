"""Normalise post text for matching, keeping a map back to the original characters.

What it undoes (SIGNALS.md §10, evasion):

* compatibility forms (NFKC: fullwidth letters, ligatures, circled digits);
* zero-width and bidi control characters inserted to break words;
* look-alike letters and "fancy Unicode" (Cyrillic а in a Latin word, 𝓫𝓸𝓪𝓽), folded with
  decancer on Latin and mixed-script tokens only: on Arabic script it produces garbage;
* Arabic-Indic and Persian digits (٠١٢ / ۰۱۲) to ASCII;
* Arabic-script spelling variation (أ إ آ → ا, ى → ي, ة → ه, Persian ی/Arabic ي and ک/ك
  folded, tatweel and diacritics removed) while keeping the letters that distinguish Persian,
  Kurdish, Pashto and Urdu (پ چ ژ گ ڤ ە ێ ۆ ڕ ڵ ټ ډ ړ ښ ږ ځ څ ګ ې ۍ ں ے ...);
* case (lower-cased where that keeps the length; Turkish dotted İ becomes i).

Emoji that carry meaning and digits spread out with spaces or dashes are not rewritten in
place: :func:`extras` returns them as tokens to append, so that the main text keeps a
one-to-one character map to the original in the common case and spans stay exact.

``Normalised.span(start, end)`` maps a span of the normalised text back to the original.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import decancer_py

# Characters removed outright: zero-width, joiners, bidi controls, soft hyphen, BOM, tatweel,
# Arabic diacritics (harakat, superscript alef, Quranic marks).
_REMOVE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
    "\ufeff\u0640"
    + "".join(chr(c) for c in range(0x064B, 0x0660))
    + "\u0670"
    + "".join(chr(c) for c in range(0x06D6, 0x06EE) if c not in (0x06E5, 0x06E6))
)
_REMOVE_RE = re.compile("[" + re.escape(_REMOVE) + "]")

_FOLD = str.maketrans(
    {
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian / Urdu digits
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ی": "ي",  # Persian yeh and Arabic yeh are one letter for matching
        "ې": "ې",  # Pashto yeh stays distinct (listed so the intent is visible)
        "ة": "ه",
        "ۀ": "ه",
        "ك": "ک",  # Arabic kaf and Persian keheh folded to keheh
        "ؤ": "و",
        "ئ": "ي",
        "٫": ".",
        "٬": ",",
        "،": ",",
        "؛": ";",
        "؟": "?",
        "İ": "i",
        "ı": "ı",
    }
)

_FOLD_CHARS = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(_FOLD)) + "]")


@lru_cache(maxsize=4)
def _fold(text: str) -> str:
    """``text.translate(_FOLD)``. Translating non-ASCII text looks up every character, and
    :func:`normalise` and :func:`extras` fold the same post one after the other: most Latin
    and Cyrillic posts have nothing to fold, and the second call is remembered."""
    return text.translate(_FOLD) if _FOLD_CHARS.search(text) else text


# Scripts whose tokens decancer may fold. Anything outside Latin, Greek and Cyrillic letters
# plus the "fancy" symbol blocks is left alone.
_FANCY_RANGES = (
    (0x0370, 0x03FF),  # Greek (look-alikes in Latin words)
    (0x0400, 0x04FF),  # Cyrillic (look-alikes in Latin words)
    (0x1D400, 0x1D7FF),  # Mathematical alphanumerics 𝓫𝓸𝓪𝓽
    (0x2100, 0x214F),  # Letterlike symbols
    (0x2460, 0x24FF),  # Enclosed alphanumerics
    (0x1F100, 0x1F1E5),  # Enclosed alphanumeric supplement (not regional flags)
    (0x0250, 0x02AF),  # IPA extensions (ɑ, ɡ)
    (0x1D00, 0x1DBF),  # Phonetic extensions / small capitals
)
_FANCY_RE = re.compile(
    "[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _FANCY_RANGES) + "]"
)
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Normalised:
    """Normalised text and, when it differs in length from the original, a map back."""

    original: str
    text: str
    #: ``index[i]`` is the original position of normalised character ``i`` (None: identity).
    index: tuple[int, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original (start, end) of normalised ``text[start:end]``."""
        if self.index is None:
            return start, end
        if start >= len(self.index):
            return len(self.original), len(self.original)
        first = self.index[start]
        last = self.index[end - 1] + 1 if end > start else first
        return first, max(last, first)

    def quote(self, start: int, end: int) -> str:
        """The original text behind normalised ``text[start:end]``, as an analyst would quote it."""
        first, last = self.span(start, end)
        return self.original[first:last]


def normalise(text: str) -> Normalised:
    """Normalise ``text``; the fast path (no deletions, NFKC-stable, no fancy letters) keeps
    positions identical so no index is built."""
    if text.isascii():  # nothing to fold, remove or decompose: only case changes
        return Normalised(original=text, text=text.lower())
    folded = _fold(text)
    if (
        unicodedata.is_normalized("NFKC", folded)
        and not _REMOVE_RE.search(folded)
        and not _has_fancy(folded)
    ):
        lowered = folded.lower()
        if len(lowered) == len(text):
            return Normalised(original=text, text=lowered)
    return _slow(text)


def _has_fancy(text: str) -> bool:
    return not text.isascii() and _FANCY_RE.search(text) is not None


def _is_fancy(char: str) -> bool:
    return _FANCY_RE.match(char) is not None


def _slow(text: str) -> Normalised:
    """Character by character, recording where each output character came from."""
    pieces = [_expanded(char) for char in text]
    joined = "".join(pieces)
    index = [position for position, piece in enumerate(pieces) for _ in piece]
    joined, index = _fold_lookalikes(joined, index)
    return Normalised(original=text, text=joined, index=tuple(index))


@lru_cache(maxsize=65536)
def _expanded(char: str) -> str:
    """What one original character becomes: removed (""), folded, decomposed, lower-cased.
    Characters repeat across posts, so each is worked out once."""
    if char in _REMOVE:
        return ""
    expanded = unicodedata.normalize("NFKC", char).translate(_FOLD)
    return "".join(piece.lower() for piece in expanded if piece not in _REMOVE)


def _fold_lookalikes(text: str, index: list[int]) -> tuple[str, list[int]]:
    """Run decancer on tokens that mix Latin with look-alike or fancy letters."""
    if not _has_fancy(text):
        return text, index
    out: list[str] = []
    out_index: list[int] = []
    cursor = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        out.append(text[cursor : match.start()])
        out_index.extend(index[cursor : match.start()])
        cursor = match.end()
        if _has_fancy(token) and not _has_other_script(token):
            cured = str(decancer_py.parse(token))
            if cured:
                out.append(cured)
                # One original position per cured character, spread over the token.
                span = index[match.start() : match.end()]
                out_index.extend(
                    span[min(i * len(span) // len(cured), len(span) - 1)] for i in range(len(cured))
                )
                continue
        out.append(token)
        out_index.extend(index[match.start() : match.end()])
    out.append(text[cursor:])
    out_index.extend(index[cursor:])
    return "".join(out), out_index


def _has_other_script(token: str) -> bool:
    """Arabic, Hebrew, Ethiopic, Indic... letters: decancer would garble them."""
    for char in token:
        if char.isascii() or _is_fancy(char):
            continue
        if unicodedata.category(char).startswith("L"):
            name = unicodedata.name(char, "")
            if not name.startswith(("LATIN", "GREEK", "CYRILLIC")):
                return True
    return False


# --- tokens appended to the text, with the original span they stand for ----------------------

EMOJI_TOKENS: dict[str, str] = {
    "🚤": "emoji_speedboat",
    "🛥": "emoji_speedboat",
    "⛵": "emoji_boat",
    "🚢": "emoji_ship",
    "🛶": "emoji_boat",
    "⛴": "emoji_ship",
    "🌊": "emoji_wave",
    "✈": "emoji_plane",
    "🛫": "emoji_plane",
    "🚛": "emoji_truck",
    "🚚": "emoji_truck",
    "🚐": "emoji_van",
    "🚗": "emoji_car",
    "🚕": "emoji_car",
    "➡": "emoji_arrow",
    "⬅": "emoji_arrow",
    "→": "emoji_arrow",
    "⏩": "emoji_arrow",
    "💶": "emoji_money",
    "💷": "emoji_money",
    "💵": "emoji_money",
    "💰": "emoji_money",
    "💸": "emoji_money",
    "💲": "emoji_money",
    "✅": "emoji_check",
    "✔": "emoji_check",
    "💯": "emoji_hundred",
    "📞": "emoji_phone",
    "☎": "emoji_phone",
    "📱": "emoji_phone",
    "🛂": "emoji_passport",
    "🔥": "emoji_fire",
    "🏝": "emoji_island",
    "🆘": "emoji_sos",
    "⚠": "emoji_warning",
}
_REGIONAL_A = 0x1F1E6
# Two regional indicators, written out so that the pattern starts with a set of characters,
# which the engine skips to (a repeat at the start is tried at every position).
_FLAG = re.compile("[\U0001f1e6-\U0001f1ff][\U0001f1e6-\U0001f1ff]")
_EMOJI = re.compile("|".join(re.escape(e) for e in sorted(EMOJI_TOKENS, key=len, reverse=True)))
# Digits spread out to dodge filters: "0 9 1 - 2 3 4" or "0.9.1.2": seven or more digits, each
# followed by up to three separators.
# The first digit comes before the lookbehind (that no digit precedes it) so that the engine
# skips to digits instead of testing the lookbehind everywhere.
_SPREAD_DIGITS = re.compile(r"\d(?<!\d\d)(?:[ .\-_/]{1,3}\d){6,}(?!\d)")


@dataclass(frozen=True)
class Extra:
    token: str
    start: int  # in the original text
    end: int


def extras(text: str) -> list[Extra]:
    """Tokens for meaningful emoji, flags and spread-out digit runs, with original spans."""
    found: list[Extra] = []
    only_ascii = text.isascii()
    if not only_ascii:
        for match in _EMOJI.finditer(text):
            found.append(Extra(EMOJI_TOKENS[match.group()], match.start(), match.end()))
        for match in _FLAG.finditer(text):
            country = "".join(chr(ord(c) - _REGIONAL_A + ord("a")) for c in match.group())
            found.append(Extra(f"emoji_flag_{country}", match.start(), match.end()))
    # Same length: digit folding is one to one (and folds nothing in ASCII).
    digits = text if only_ascii else _fold(text)
    for match in _SPREAD_DIGITS.finditer(digits):
        joined = re.sub(r"\D", "", match.group())
        found.append(Extra(f"digits_{joined}", match.start(), match.end()))
    return found
