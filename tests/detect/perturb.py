"""Evasion tricks smugglers use (SIGNALS.md §10), applied to text for robustness tests."""

from __future__ import annotations

import random

LOOKALIKES = {
    "a": "а",
    "e": "е",
    "o": "о",
    "p": "р",
    "c": "с",
    "x": "х",
    "y": "у",
    "i": "і",
}  # Cyrillic
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
EMOJI = {"boat": "🚤", "sea": "🌊", "money": "💶", "phone": "📞", "uk": "🇬🇧", "italy": "🇮🇹"}
LEET = {"a": "4", "e": "3", "o": "0", "i": "1", "s": "5", "t": "7"}


def lookalikes(text: str, rng: random.Random) -> str:
    return "".join(LOOKALIKES[c] if c in LOOKALIKES and rng.random() < 0.5 else c for c in text)


def zero_width(text: str, rng: random.Random) -> str:
    out = []
    for char in text:
        out.append(char)
        if char.isalpha() and rng.random() < 0.3:
            out.append(rng.choice(ZERO_WIDTH))
    return "".join(out)


def spaced_persian_digits(text: str, rng: random.Random) -> str:
    out = []
    for char in text:
        if char.isdigit():
            out.append(char.translate(PERSIAN_DIGITS) + (" " if rng.random() < 0.5 else ""))
        else:
            out.append(char)
    return "".join(out)


def emoji_substitution(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    return " ".join(
        EMOJI.get(w.lower().strip(".,!"), w) if rng.random() < 0.8 else w for w in words
    )


def leetspeak(text: str, rng: random.Random) -> str:
    def word(w: str) -> str:
        if not w.isascii() or not w.isalpha() or len(w) < 4 or rng.random() > 0.4:
            return w
        return "".join(LEET.get(c.lower(), c) if rng.random() < 0.5 else c for c in w)

    return " ".join(word(w) for w in text.split(" "))


ALL = {
    "lookalikes": lookalikes,
    "zero_width": zero_width,
    "spaced_persian_digits": spaced_persian_digits,
    "emoji_substitution": emoji_substitution,
    "leetspeak": leetspeak,
}


def everything(text: str, rng: random.Random) -> str:
    for perturb in ALL.values():
        text = perturb(text, rng)
    return text
